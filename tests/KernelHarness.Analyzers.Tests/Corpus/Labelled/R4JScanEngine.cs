// Scan engine for a DMA-less barcode scanner: a kernel thread runs batches, a timer expires requests by their
// jiffies deadlines, a work item reaps them. Holds raw deadline comparisons, one-shot waits, and wrong GFP flags.
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.R4JScanEngine;

public sealed class ScanRequest
{
    public ulong submitted;  // jiffies time
    public ulong deadline;   // jiffies time
    public ulong budget;     // duration in jiffies
    public int id, status;
    public bool done;
    public kptr data;
}

public sealed class ScanEngine
{
    private const int MAXREQ = 8;
    private const int DATA_BYTES = 256;

    private readonly spinlock_t req_lock = new();
    private readonly wait_queue_head_t work_wq = new();
    private readonly wait_queue_head_t done_wq = new();
    private readonly timer_list timeout_timer = new();
    private readonly timer_list kick_timer = new();
    private readonly work_struct reap_work = new();
    private readonly work_struct stats_work = new();
    private readonly tasklet_struct irq_bh = new();
    private readonly ScanRequest?[] reqs = new ScanRequest?[MAXREQ];
    private task_struct? thread;
    private ulong last_scan, scan_period;
    private uint irq;
    private int pending, hw_status, completed, next_id;
    private bool hw_done, started;

    public int start(uint irq_line)
    {
        irq = irq_line;
        scan_period = msecs_to_jiffies(40);
        timer_setup(timeout_timer, timeout_fn, 0);
        timer_setup(kick_timer, t =>
        {
            var probe = kmalloc(32, GFP_NOIO); // expect: KH1002 (GFP_NOIO still allows direct reclaim, timer lambda is softirq)
            if (probe != NULL)
                kfree(probe);
            wake_up(work_wq); // ok: wake_up from a timer callback
        }, 0);
        INIT_WORK(reap_work, reap_fn);
        INIT_WORK(stats_work, w =>
        {
            var s = kzalloc(64, GFP_ATOMIC); // expect: KH1003 (GFP_ATOMIC in a work-item lambda, process context, nothing held)
            if (s != NULL)
                kfree(s);
        });
        tasklet_setup(irq_bh, t => scan_bh());
        int err = request_irq(irq, scan_isr, 0, "scanner", this);
        if (err != 0)
            return err;
        last_scan = jiffies;
        thread = kthread_run(scan_thread, this, "kscand");
        started = true;
        return 0;
    }

    // Gfp passed through: the callers are checked, not this line.
    private kptr alloc_log(gfp_t gfp) => kzalloc(64, gfp); // ok: gfp_t parameter passed through to the allocator

    // Hard-IRQ context.
    private irqreturn_t scan_isr(int irq_no, object? dev_id)
    {
        if (dev_id is not ScanEngine eng || eng.hw_status == 0)
            return IRQ_NONE;
        hw_done = true;
        var log = alloc_log(GFP_KERNEL); // expect: KH1002 (blocking GFP_KERNEL passed to an allocating helper from the hard-IRQ handler)
        if (log != NULL)
            kfree(log);
        tasklet_schedule(irq_bh);
        wake_up(done_wq); // ok: wake_up from hard-IRQ context
        return IRQ_HANDLED;
    }

    // Softirq context (tasklet).
    private void scan_bh()
    {
        var log = alloc_log(GFP_ATOMIC); // ok: GFP_ATOMIC handed to the pass-through helper from a tasklet
        if (log != NULL)
            kfree(log);
        schedule_work(reap_work);
    }

    // Softirq context (timer_setup): expire requests and re-arm for the earliest deadline.
    private void timeout_fn(timer_list t)
    {
        ulong now = jiffies;
        ulong next = 0;
        int expired = 0;
        spin_lock_irqsave(req_lock, out ulong flags);
        for (int i = 0; i < MAXREQ; i++)
        {
            var r = reqs[i];
            if (r == null || r.done)
                continue;
            if (r.deadline < now) // expect: KH5001 (request deadline compared raw with a jiffies snapshot)
            {
                r.status = -ETIMEDOUT;
                r.done = true;
                expired++;
            }
            else if (next == 0 || r.deadline < next) // expect: KH5001 (two jiffies deadlines compared raw to find the earliest)
                next = r.deadline;
        }
        spin_unlock_irqrestore(req_lock, flags);
        if (expired > 0)
        {
            var log = alloc_log(GFP_KERNEL); // expect: KH1002 (blocking GFP_KERNEL passed to an allocating helper from a timer callback)
            if (log != NULL)
                kfree(log);
            wake_up_all(done_wq);
            schedule_work(reap_work);
        }
        if (next != 0) // ok: equality test against a constant
            mod_timer(t, next);
    }

    // Process context (INIT_WORK).
    private void reap_fn(work_struct w)
    {
        var summary = kmalloc(MAXREQ * 8, GFP_ATOMIC); // expect: KH1003 (GFP_ATOMIC in a work item, process context, nothing held)
        if (summary == NULL)
            return;
        spin_lock_irqsave(req_lock, out ulong flags);
        var slot = kmalloc(16, GFP_ATOMIC); // ok: GFP_ATOMIC is right while req_lock is held
        var extra = kmalloc(16, GFP_KERNEL); // expect: KH1002 (GFP_KERNEL while req_lock is held with irqs off)
        int n = 0;
        for (int i = 0; i < MAXREQ; i++)
        {
            var r = reqs[i];
            if (r == null || !r.done)
                continue;
            if ((long)(jiffies - r.deadline) >= 0) // ok: signed difference compared with zero, what time_after_eq does
                r.status = r.status == 0 ? -ETIMEDOUT : r.status;
            n++;
        }
        spin_unlock_irqrestore(req_lock, flags);
        kfree(extra);
        kfree(slot);
        var copy = kmalloc(MAXREQ * 8, GFP_KERNEL); // ok: req_lock dropped, work item may sleep
        if (copy != NULL)
            kfree(copy);
        ptr_ref<int>(summary) = n;
        kfree(summary);
    }

    // Kernel thread (kthread_run): process context.
    private int scan_thread(object? data)
    {
        var wait = DEFINE_WAIT();
        prepare_to_wait(work_wq, wait, TASK_INTERRUPTIBLE);
        schedule(); // expect: KH5002 (waits once for the first kick, pending is never tested)
        finish_wait(work_wq, wait);
        var scratch = kmalloc_array(MAXREQ, DATA_BYTES, GFP_ATOMIC); // expect: KH1003 (GFP_ATOMIC in a kernel thread, nothing held)
        if (scratch == NULL)
            return -ENOMEM;
        while (!kthread_should_stop())
        {
            prepare_to_wait(work_wq, wait, TASK_INTERRUPTIBLE);
            if (pending == 0 && !kthread_should_stop())
                schedule(); // ok: the enclosing while loop tests pending again after every wake-up
            finish_wait(work_wq, wait);
            if (last_scan + scan_period < jiffies) // expect: KH5001 (last_scan + scan_period is a time, compared raw with jiffies)
                pr_info("kscand: scan overdue\n");
            if (time_after(jiffies, last_scan + 4 * scan_period)) // ok: wrap-safe comparison
                pr_warn("kscand: scan stalled\n");
            run_batch();
            last_scan = jiffies;
            msleep(1); // ok: kernel thread, process context
        }
        kfree(scratch);
        return 0;
    }

    // Called only from the kernel thread.
    private void run_batch()
    {
        var buf = kmalloc(DATA_BYTES, GFP_ATOMIC); // expect: KH1003 (private helper only reached from the kernel thread with nothing held)
        if (buf == NULL)
            return;
        hw_done = false;
        hw_status = 1;
        var wait = DEFINE_WAIT();
        prepare_to_wait(done_wq, wait, TASK_UNINTERRUPTIBLE);
        if (!hw_done)
            schedule(); // expect: KH5002 (hw_done tested once; a wake-up for another waiter on done_wq returns early)
        finish_wait(done_wq, wait);
        spin_lock_irq(req_lock);
        pending = 0;
        spin_unlock_irq(req_lock);
        kfree(buf);
        completed++;
        schedule_work(stats_work);
    }

    // Busy-poll the scanner for at most the request's budget.
    private int poll_budget(ScanRequest r)
    {
        for (ulong end = jiffies + r.budget; jiffies <= end;) // expect: KH5001 (jiffies compared raw with the local end time)
        {
            if (hw_done)
                return 0;
            cpu_relax();
        }
        return jiffies - r.submitted >= r.budget ? -ETIMEDOUT : 0; // ok: difference of two times compared with a duration field
    }

    public int submit(uint timeout_ms, ulong budget)
    {
        if (budget > HZ) // ok: two durations compared, neither is a jiffies time
            return -EINVAL;
        var data = kmalloc(DATA_BYTES, GFP_KERNEL); // ok: public method, process context
        if (data == NULL)
            return -ENOMEM;
        var r = new ScanRequest
        {
            submitted = jiffies,
            deadline = jiffies + msecs_to_jiffies(timeout_ms),
            budget = budget,
            id = ++next_id,
            data = data,
        };
        spin_lock_irq(req_lock);
        int slot = -1;
        for (int i = 0; i < MAXREQ && slot < 0; i++)
            if (reqs[i] == null)
                slot = i;
        if (slot >= 0)
            reqs[slot] = r;
        pending += slot >= 0 ? 1 : 0;
        spin_unlock_irq(req_lock);
        if (slot < 0)
        {
            kfree(data);
            return -EBUSY;
        }
        if (!timer_pending(timeout_timer) || time_before(r.deadline, timeout_timer.expires)) // ok: wrap-safe comparison with the timer's expiry
            mod_timer(timeout_timer, r.deadline);
        mod_timer(kick_timer, jiffies + 1);
        return r.id;
    }

    public int submit_sync(uint timeout_ms, ulong budget)
    {
        int id = submit(timeout_ms, budget);
        if (id < 0)
            return id;
        var r = find(id);
        if (r == null)
            return -ENOENT;
        if (poll_budget(r) == 0)
            return r.status;
        var wait = DEFINE_WAIT();
        prepare_to_wait(done_wq, wait, TASK_INTERRUPTIBLE);
        if (!r.done && !signal_pending(current))
            schedule(); // expect: KH5002 (r.done tested once, no loop around the wait)
        finish_wait(done_wq, wait);
        if (!r.done && jiffies >= r.deadline) // expect: KH5001 (jiffies compared raw with the request deadline)
            return -ETIMEDOUT;
        return r.status;
    }

    public int wait_request(int id)
    {
        var r = find(id);
        if (r == null)
            return -ENOENT;
        var wait = DEFINE_WAIT();
        bool done = false;
        while (!done)
        {
            prepare_to_wait(done_wq, wait, TASK_INTERRUPTIBLE);
            done = r.done;
            if (!done)
                schedule(); // ok: the loop re-tests done, reloaded from r.done after each wake-up
        }
        finish_wait(done_wq, wait);
        return r.status;
    }

    public int wait_request_for(int id)
    {
        var r = find(id);
        if (r == null)
            return -ENOENT;
        var wait = DEFINE_WAIT();
        for (; !r.done;)
        {
            prepare_to_wait(done_wq, wait, TASK_INTERRUPTIBLE);
            if (signal_pending(current))
                break;
            if (time_before_eq(r.deadline, jiffies)) // ok: wrap-safe comparison
                break;
            schedule(); // ok: for without a step tests r.done every time round
        }
        finish_wait(done_wq, wait);
        return r.done ? r.status : -ETIMEDOUT;
    }

    public int wait_idle() => wait_event_interruptible(done_wq, () => pending == 0 || !started); // ok: wait_event* loops by itself

    private ScanRequest? find(int id)
    {
        ScanRequest? found = null;
        spin_lock_irq(req_lock);
        for (int i = 0; i < MAXREQ; i++)
            if (reqs[i] != null && reqs[i]!.id == id)
                found = reqs[i];
        spin_unlock_irq(req_lock);
        return found;
    }

    public void stop_locked()
    {
        spin_lock_irq(req_lock);
        started = false;
        if (thread != null)
            kthread_stop(thread); // expect: KH1001 (kthread_stop waits for the thread while req_lock is held)
        spin_unlock_irq(req_lock);
    }

    public void stop()
    {
        spin_lock_irq(req_lock);
        started = false;
        spin_unlock_irq(req_lock);
        if (thread != null)
            kthread_stop(thread); // ok: req_lock dropped, process context
        free_irq(irq, this);
        del_timer_sync(timeout_timer);
        del_timer_sync(kick_timer);
        tasklet_kill(irq_bh);
        cancel_work_sync(reap_work);
        flush_work(stats_work);
        for (int i = 0; i < MAXREQ; i++)
            if (reqs[i] != null)
                kfree(reqs[i]!.data);
    }
}
