using KernelHarness;
using KernelHarness.Conformance.Driver;
using static KernelHarness.Kernel;

namespace Student.Driver.RxBufferLeak;
// Example submission "rx-buffer-leak": the tasklet allocates a receive buffer and never frees it

/// <summary>
/// A small network-style driver: the IRQ handler acknowledges the device and defers to a tasklet,
/// a watchdog timer schedules a reset work item when the device goes quiet.
/// </summary>
public sealed class NetDriver : IDriverAssignment
{
    private readonly spinlock_t lock_ = new();
    private readonly tasklet_struct rx_tasklet = new();
    private readonly timer_list watchdog = new();
    private readonly work_struct reset_work = new();
    private SimNetDevice? dev;
    private int backlog;
    private long rx_total;
    private ulong last_rx;
    private int timer_runs;
    private int reset_runs;

    public long packets => rx_total;
    public int watchdog_runs => timer_runs;
    public int resets => reset_runs;

    public int probe(SimNetDevice device)
    {
        dev = device;
        tasklet_setup(rx_tasklet, rx_poll);
        timer_setup(watchdog, watchdog_fn, 0);
        INIT_WORK(reset_work, reset_fn);
        last_rx = jiffies;
        int err = request_irq(device.irq, isr, IRQF_SHARED, "simnet", this);
        if (err != 0)
            return err;
        mod_timer(watchdog, jiffies + HZ / 2);
        return 0;
    }

    // Hard-IRQ context: acknowledge, count, defer.
    private irqreturn_t isr(int irq, object? dev_id)
    {
        var d = dev;
        if (d is null || d.irq_status() == 0)
            return IRQ_NONE;
        // ISR BODY
        spin_lock(lock_);
        backlog += d.ack();
        spin_unlock(lock_);
        tasklet_schedule(rx_tasklet);
        return IRQ_HANDLED;
    }

    // Softirq context: no sleeping, GFP_ATOMIC only, the lock shared with the handler taken with irqsave.
    private void rx_poll(tasklet_struct t)
    {
        // TASKLET LOCK
        spin_lock_irqsave(lock_, out ulong flags);
        int n = backlog;
        backlog = 0;
        spin_unlock_irqrestore(lock_, flags);
        // TASKLET BUFFER
        var buf = kmalloc((ulong)(64 + n * 16), GFP_ATOMIC);
        if (buf != NULL)
            memset(buf, 0, 64); // the buffer is dropped here: nothing frees it
        rx_total += n;
        if (n > 0)
            last_rx = jiffies;
    }

    private void watchdog_fn(timer_list t)
    {
        timer_runs++;
        if (time_after(jiffies, last_rx + HZ))
        {
            last_rx = jiffies;
            schedule_work(reset_work);
        }
        mod_timer(watchdog, jiffies + HZ / 2);
    }

    // Process context: may sleep.
    private void reset_fn(work_struct w)
    {
        msleep(10);
        dev?.reset();
        reset_runs++;
    }

    public void remove()
    {
        if (dev is null)
            return;
        free_irq(dev.irq, this);
        // REMOVE TIMER
        del_timer_sync(watchdog);
        cancel_work_sync(reset_work);
        tasklet_kill(rx_tasklet);
        dev = null;
    }
}
