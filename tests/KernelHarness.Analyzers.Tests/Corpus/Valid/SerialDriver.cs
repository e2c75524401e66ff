// A UART-style driver: a hard-IRQ handler that defers to a tasklet, a work item for slow paths,
// and a trylock-based fast path. Follows every KH rule.
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Valid.Serial;

public sealed class Uart
{
    private readonly spinlock_t port_lock = new();
    private readonly mutex cfg_lock = new();
    private readonly tasklet_struct rx_tasklet = new();
    private readonly work_struct reconfig = new();
    private kptr rx_buf = NULL;
    private int rx_count;
    private uint irq;

    public int probe(uint line)
    {
        irq = line;
        rx_buf = kzalloc(4096, GFP_KERNEL);
        if (rx_buf == NULL)
            return -ENOMEM;
        tasklet_setup(rx_tasklet, t => rx_drain());
        INIT_WORK(reconfig, w => apply_config());
        int err = request_irq(irq, uart_isr, IRQF_SHARED, "uart", this);
        if (err != 0)
        {
            kfree(rx_buf);
            rx_buf = NULL;
        }
        return err;
    }

    private irqreturn_t uart_isr(int n, object? dev_id)
    {
        if (dev_id is not Uart)
            return IRQ_NONE;
        spin_lock(port_lock);
        rx_count++;
        spin_unlock(port_lock);
        tasklet_schedule(rx_tasklet);
        return IRQ_HANDLED;
    }

    private void rx_drain()
    {
        spin_lock_irqsave(port_lock, out var flags);
        int n = rx_count;
        rx_count = 0;
        spin_unlock_irqrestore(port_lock, flags);
        var tmp = kmalloc((ulong)(n + 1) * 16, GFP_ATOMIC);
        if (tmp == NULL)
            return;
        kfree(tmp);
    }

    private void apply_config()
    {
        mutex_lock(cfg_lock);
        msleep(5);
        if (!spin_trylock(port_lock))
        {
            mutex_unlock(cfg_lock);
            return;
        }
        rx_count = 0;
        spin_unlock(port_lock);
        mutex_unlock(cfg_lock);
    }

    public int set_speed(int baud)
    {
        if (mutex_lock_interruptible(cfg_lock) != 0)
            return -EINTR;
        if (baud <= 0)
        {
            mutex_unlock(cfg_lock);
            return -EINVAL;
        }
        schedule_work(reconfig);
        mutex_unlock(cfg_lock);
        return 0;
    }

    public void remove()
    {
        free_irq(irq, this);
        cancel_work_sync(reconfig);
        tasklet_kill(rx_tasklet);
        kfree(rx_buf);
    }
}
