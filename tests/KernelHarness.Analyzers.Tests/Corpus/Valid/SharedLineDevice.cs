// A device on a shared interrupt line with a kernel thread and wrap-safe timeouts: the shapes the
// IRQ, time, wait and mm rules expect.
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Valid.SharedLineDevice;

public sealed class SharedLineDevice
{
    private readonly spinlock_t lk = new();
    private readonly wait_queue_head_t wq = new();
    private readonly work_struct work = new();
    private uint irq;
    private uint status;
    private ulong deadline;
    private ulong last_irq;
    private bool done;
    private ulong vm_seen;
    private task_struct? thread;

    public int probe(uint line)
    {
        irq = line;
        INIT_WORK(work, w => bottom_half());
        int err = request_threaded_irq(irq, top_half, thread_half, IRQF_SHARED, "sld", this);
        if (err != 0)
            return err;
        deadline = jiffies + 2 * HZ;
        thread = kthread_run(poll_thread, this, "sld-poll");
        return 0;
    }

    private irqreturn_t top_half(int i, object? dev_id)
    {
        if (dev_id is not SharedLineDevice d)
            return IRQ_NONE;
        spin_lock(d.lk);
        uint st = d.status;
        d.status = 0;
        spin_unlock(d.lk);
        if (st == 0)
            return IRQ_NONE;
        d.last_irq = jiffies;
        return IRQ_WAKE_THREAD;
    }

    private irqreturn_t thread_half(int i, object? dev_id)
    {
        schedule_work(work);
        return IRQ_HANDLED;
    }

    private void bottom_half()
    {
        done = true;
        wake_up(wq);
        if (current.mm != null)
            vm_seen = current.mm.total_vm;
    }

    private int poll_thread(object? data)
    {
        while (!kthread_should_stop())
        {
            if (time_after(jiffies, deadline) || jiffies - last_irq > 10 * HZ)
                break;
            msleep(10);
        }
        var mm = current.active_mm;
        if (mm != null)
            vm_seen = mm.total_vm;
        return 0;
    }

    public int wait_done()
    {
        var w = new wait_queue_entry();
        int ret = 0;
        for (;;)
        {
            prepare_to_wait(wq, w, TASK_INTERRUPTIBLE);
            if (done)
                break;
            if (signal_pending(current))
            {
                ret = -ERESTARTSYS;
                break;
            }
            schedule();
        }
        finish_wait(wq, w);
        return ret;
    }

    public int wait_done_simple() => wait_event_interruptible(wq, () => done);

    public bool is_user_context() => current.mm != null;

    public void remove()
    {
        if (thread is not null)
            kthread_stop(thread);
        free_irq(irq, this);
        cancel_work_sync(work);
    }
}
