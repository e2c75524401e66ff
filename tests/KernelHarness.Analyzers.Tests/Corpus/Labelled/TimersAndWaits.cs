// Time, wait and mm bugs (KH5001, KH5002, KH6001, KH6002), and their correct neighbours.
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.TimersAndWaits;

public sealed class Poller
{
    private readonly wait_queue_head_t wq = new();
    private readonly work_struct work = new();
    private ulong deadline;
    private ulong last_seen;
    private bool ready;
    private ulong total;

    public void arm(uint ms)
    {
        deadline = jiffies + msecs_to_jiffies(ms);
        last_seen = jiffies;
        INIT_WORK(work, w => account());
    }

    public bool expired() => jiffies > deadline; // expect: KH5001

    public bool expired_ok() => time_after(jiffies, deadline);

    public bool stale() => jiffies - last_seen > 5 * HZ;

    public void spin_until(ulong when)
    {
        while (jiffies < when) // expect: KH5001
            cpu_relax();
    }

    public void spin_ok() => spin_until(jiffies + HZ);

    public bool before_last(ulong t) => last_seen >= t + HZ; // expect: KH5001

    public void wait_once()
    {
        var w = new wait_queue_entry();
        prepare_to_wait(wq, w, TASK_INTERRUPTIBLE);
        if (!ready)
            schedule(); // expect: KH5002
        finish_wait(wq, w);
    }

    public void wait_loop()
    {
        var w = new wait_queue_entry();
        for (;;)
        {
            prepare_to_wait(wq, w, TASK_INTERRUPTIBLE);
            if (ready || signal_pending(current))
                break;
            schedule();
        }
        finish_wait(wq, w);
    }

    public void wait_a_few_times()
    {
        // Retries a fixed number of times: a spurious wake-up ends one sleep early whether or not the device is ready.
        var w = new wait_queue_entry();
        int tries = 0;
        while (tries++ < 3)
        {
            prepare_to_wait(wq, w, TASK_INTERRUPTIBLE);
            schedule(); // expect: KH5002
        }
        finish_wait(wq, w);
    }

    public void wait_with_local_flag()
    {
        var w = new wait_queue_entry();
        bool done = false;
        while (!done)
        {
            prepare_to_wait(wq, w, TASK_INTERRUPTIBLE);
            done = ready || signal_pending(current);
            if (!done)
                schedule();
        }
        finish_wait(wq, w);
    }

    public int wait_event_form() => wait_event_interruptible(wq, () => ready);

    public bool from_user() => current.mm != init_mm; // expect: KH6001

    public bool from_user_ok() => current.mm != null;

    private void account()
    {
        total += current.mm.total_vm; // expect: KH6002
        ready = true;
        wake_up(wq);
    }

    public int start_thread()
    {
        kthread_run(thread_fn, null, "poller");
        return 0;
    }

    private int thread_fn(object? data)
    {
        if (current.mm == init_mm) // expect: KH6001
            return 0;
        if (current.mm == null)
            return 0;
        total += current.mm.total_vm;
        return 0;
    }
}
