// Copied from /work/shared/spec/examples/NetDriver.cs (the spec's driver example), unchanged but for this line.
// A small network-style driver that follows every rule: the shapes student code takes.
using KernelHarness;
using static KernelHarness.Kernel;

namespace Examples.NetDriver;

public sealed class NetDev
{
    private readonly spinlock_t rx_lock = new();
    private readonly mutex config_lock = new();
    private readonly wait_queue_head_t link_wait = new();
    private readonly tasklet_struct rx_tasklet = new();
    private readonly timer_list watchdog = new();
    private readonly work_struct reset_work = new();
    private static readonly percpu<long> rx_packets = DEFINE_PER_CPU<long>();
    private kptr ring = NULL;
    private int pending;
    private bool link_up;
    private ulong last_rx;
    private uint irq;

    public int probe(uint irq_line)
    {
        irq = irq_line;
        ring = kzalloc(16 * PAGE_SIZE, GFP_KERNEL);
        if (ring == NULL)
            return -ENOMEM;
        tasklet_setup(rx_tasklet, t => rx_poll());
        timer_setup(watchdog, t => watchdog_fired(), 0);
        INIT_WORK(reset_work, w => reset_hw());
        int err = request_irq(irq, net_isr, IRQF_SHARED, "netdev", this);
        if (err != 0)
        {
            kfree(ring);
            ring = NULL;
            return err;
        }
        last_rx = jiffies;
        mod_timer(watchdog, jiffies + HZ);
        return 0;
    }

    // Hard-IRQ context: no sleeping, GFP_ATOMIC only, defer the real work.
    private irqreturn_t net_isr(int irq_no, object? dev_id)
    {
        if (dev_id is not NetDev dev || dev.pending < 0)
            return IRQ_NONE;
        spin_lock(rx_lock);
        pending++;
        spin_unlock(rx_lock);
        this_cpu_inc(rx_packets);
        tasklet_schedule(rx_tasklet);
        return IRQ_HANDLED;
    }

    // Softirq context.
    private void rx_poll()
    {
        spin_lock_irqsave(rx_lock, out var flags);
        int n = pending;
        pending = 0;
        spin_unlock_irqrestore(rx_lock, flags);
        var scratch = kmalloc((ulong)(n * 64 + 64), GFP_ATOMIC);
        if (scratch == NULL)
            return;
        memset(scratch, 0, 64);
        kfree(scratch);
        last_rx = jiffies;
    }

    private void watchdog_fired()
    {
        if (time_after(jiffies, last_rx + 5 * HZ))
            schedule_work(reset_work);
        mod_timer(watchdog, jiffies + HZ);
    }

    // Process context: may sleep.
    private void reset_hw()
    {
        mutex_lock(config_lock);
        msleep(20);
        link_up = true;
        mutex_unlock(config_lock);
        wake_up(link_wait);
    }

    public int wait_for_link()
    {
        return wait_event_interruptible(link_wait, () => link_up);
    }

    public long packets_on(int cpu) => per_cpu(rx_packets, cpu);

    public void remove()
    {
        free_irq(irq, this);
        del_timer_sync(watchdog);
        cancel_work_sync(reset_work);
        tasklet_kill(rx_tasklet);
        kfree(ring);
        ring = NULL;
    }
}
