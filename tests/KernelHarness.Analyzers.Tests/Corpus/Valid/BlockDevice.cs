// A block-device-like module: a kernel thread, a semaphore, rwlocks, conditional locking tied to
// a flag, and allocation flags chosen by context.
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Valid.Block;

public sealed class Disk
{
    private readonly rwlock_t map_lock = new();
    private readonly semaphore io_sem = new(1);
    private readonly spinlock_t q_lock = new();
    private readonly timer_list flush_timer = new();
    private task_struct? worker;
    private kptr map = NULL;
    private int queued;
    private bool polled;

    public void start()
    {
        worker = kthread_run(io_thread, this, "kdisk");
        timer_setup(flush_timer, t => flush_tick(), 0);
        mod_timer(flush_timer, jiffies + HZ);
    }

    private int io_thread(object? data)
    {
        while (!kthread_should_stop())
        {
            down(io_sem);
            var req = kmalloc(512, GFP_KERNEL);
            if (req != NULL)
            {
                write_lock(map_lock);
                queued++;
                write_unlock(map_lock);
                kfree(req);
            }
            up(io_sem);
            msleep(10);
        }
        return 0;
    }

    private void flush_tick()
    {
        read_lock(map_lock);
        int n = queued;
        read_unlock(map_lock);
        if (n > 0)
        {
            var b = kmalloc(64, GFP_NOWAIT);
            if (b != NULL)
                kfree(b);
        }
        mod_timer(flush_timer, jiffies + HZ);
    }

    public void submit(int n)
    {
        if (polled)
            spin_lock(q_lock);
        queued += n;
        if (polled)
            spin_unlock(q_lock);
        else
            cond_resched();
    }

    public void remove()
    {
        if (worker is not null)
            kthread_stop(worker);
        del_timer_sync(flush_timer);
        kfree(map);
    }
}
