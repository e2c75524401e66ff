// The driver `kh demo` loads: a small sensor driver, mostly right, with one classic mistake.
using KernelHarness;
using static KernelHarness.Kernel;

namespace KernelHarness.Cli.Demo;

public sealed class SensorDriver
{
    private readonly spinlock_t stats_lock = new();   // protects samples, readings and data_ready
    private readonly mutex config_lock = new();       // serialises readers (a sleeping lock)
    private readonly wait_queue_head_t data_wait = new();
    private readonly timer_list sample_timer = new();
    private task_struct? poller;
    private int samples;
    private int readings;
    private bool data_ready;
    private const uint IntervalMs = 100;

    public int init()
    {
        pr_info("sensor: loading");
        timer_setup(sample_timer, sample_timer_fn, 0);
        mod_timer(sample_timer, jiffies + msecs_to_jiffies(IntervalMs));
        poller = kthread_run(poll_thread, this, "sensor-poll");
        pr_info("sensor: loaded");
        return 0;
    }

    // Softirq context (a timer): no sleeping; the lock keeps it short.
    private void sample_timer_fn(timer_list t)
    {
        spin_lock(stats_lock);
        samples++;
        data_ready = true;
        spin_unlock(stats_lock);
        wake_up(data_wait);
        mod_timer(t, jiffies + msecs_to_jiffies(IntervalMs));
    }

    // Process context: may sleep. The mutex may be held across the sleep; the spinlock may not.
    public int read_sample()
    {
        mutex_lock(config_lock);
        int err = wait_event_interruptible(data_wait, () => data_ready);
        int n = 0;
        if (err == 0)
        {
            spin_lock_irqsave(stats_lock, out var flags);
            data_ready = false;
            n = samples;
            spin_unlock_irqrestore(stats_lock, flags);
        }
        mutex_unlock(config_lock);
        return err != 0 ? err : n;
    }

    // A kernel thread that polls the hardware.
    private int poll_thread(object? data)
    {
        while (!kthread_should_stop())
        {
            spin_lock_irqsave(stats_lock, out var flags);
            readings++;
            msleep(10); // BUG: sleeps holding a spinlock, with interrupts off. Use udelay(), or drop the lock first.
            spin_unlock_irqrestore(stats_lock, flags);
            msleep(50);
        }
        return 0;
    }

    public void exit()
    {
        del_timer_sync(sample_timer);
        kthread_stop(poller!);
        pr_info($"sensor: unloaded after {readings} readings");
    }
}
