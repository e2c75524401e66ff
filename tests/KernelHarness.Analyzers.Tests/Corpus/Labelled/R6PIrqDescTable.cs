// IRQ internals of a student's IIrq: a descriptor table with a per-descriptor irqsave spinlock, shared action chains,
// request/free paths that allocate per-action records, dispatch dropping the lock around handlers, spurious accounting.
// Holds GFP_KERNEL and sleeping calls under the lock, lock-variant and unlock mistakes, a leak, raw jiffies comparisons.
using System.Collections.Generic;
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.R6PIrqDescTable;

public sealed class desc_slot
{
    public desc_slot(uint irq) => desc = new irq_desc(irq);

    public readonly irq_desc desc;
    public readonly spinlock_t dlock = new();        // desc->lock
    public readonly mutex request_mutex = new();     // desc->request_mutex: serialises request and free
    public kptr counts;                              // per-action hit counters
    public ulong next_warn;                          // earliest jiffies of the next "nobody cared" report
    public bool polling;
    public uint reports;
}

public sealed class R6PIrqDescTable
{
    private const int NR_LINES = 32;
    private const ulong EXT_SIZE = 64;
    private const int MAX_ACTIONS = 8;

    private readonly desc_slot[] slots = new desc_slot[NR_LINES];
    private readonly Dictionary<irqaction, kptr> ext_of = new();
    private readonly List<kptr> pending_reports = new();
    private readonly spinlock_t ext_lock = new();
    private readonly spinlock_t report_lock = new();
    private readonly timer_list poll_timer = new();
    private readonly work_struct report_work = new();
    private ulong poll_runs;

    public int irq_table_init()
    {
        for (uint i = 0; i < NR_LINES; i++)
            slots[i] = new desc_slot(i);
        INIT_WORK(report_work, report_work_fn);
        timer_setup(poll_timer, poll_spurious_irqs, 0);
        mod_timer(poll_timer, jiffies + HZ / 10);
        return 0;
    }

    private desc_slot? slot_of(uint irq) => irq < NR_LINES ? slots[irq] : null;

    // __setup_irq: adds one action to a line, sharing it when every sharer agrees.
    public int setup_irq(uint irq, irq_handler_t handler, irq_handler_t? thread_fn, ulong flags, string name, object? dev)
    {
        var s = slot_of(irq);
        if (s == null)
            return -EINVAL;
        if ((flags & IRQF_SHARED) != 0 && dev == null)
            return -EINVAL;
        kptr ext = kzalloc(EXT_SIZE, GFP_KERNEL); // ok: KH1002 (allocated before request_mutex and the descriptor lock are taken)
        if (ext == NULL)
            return -ENOMEM; // ok: KH3004 (ext is NULL on this path)
        var action = new irqaction { handler = handler, thread_fn = thread_fn, flags = flags, name = name, dev_id = dev, irq = irq };
        mutex_lock(s.request_mutex); // expect: KH2003 (the -EINVAL return for a shared NO_AUTOEN request leaves request_mutex held)
        if ((flags & IRQF_NO_AUTOEN) != 0 && (flags & IRQF_SHARED) != 0)
        {
            kfree(ext);
            return -EINVAL; // ok: KH3004 (ext was freed just above)
        }
        spin_lock_irqsave(s.dlock, out ulong fl);
        var old = s.desc.action;
        if (old != null && ((old.flags & flags & IRQF_SHARED) == 0 || s.desc.trigger_type != (flags & IRQF_TRIGGER_MASK)))
        {
            spin_unlock_irqrestore(s.dlock, fl);
            mutex_unlock(s.request_mutex);
            return -EBUSY; // expect: KH3004 (ext is neither freed nor stored when the line cannot be shared)
        }
        if (s.counts == NULL)
            s.counts = kcalloc(MAX_ACTIONS, 8, GFP_KERNEL); // expect: KH1002 (GFP_KERNEL under the descriptor lock with interrupts off)
        if (old == null)
        {
            s.desc.action = action;
            s.desc.trigger_type = flags & IRQF_TRIGGER_MASK;
            s.desc.depth = 0;
        }
        else
        {
            var tail = old;
            while (tail.next != null)
                tail = tail.next;
            tail.next = action;
        }
        s.desc.irq_count = 0;
        s.desc.irqs_unhandled = 0;
        spin_unlock_irqrestore(s.dlock, fl); // ok: KH2004 (irqsave lock released with irqrestore and its own flags)
        spin_lock(ext_lock);
        ext_of[action] = ext;
        spin_unlock(ext_lock);
        mutex_unlock(s.request_mutex);
        return 0;
    }

    // __free_irq: unlinks the action whose dev_id matches and releases what setup_irq allocated.
    public int remove_action(uint irq, object? dev_id)
    {
        var s = slot_of(irq);
        if (s == null)
            return -EINVAL;
        mutex_lock(s.request_mutex);
        spin_lock_irqsave(s.dlock, out ulong fl);
        irqaction? prev = null;
        var action = s.desc.action;
        while (action != null && action.dev_id != dev_id)
        {
            prev = action;
            action = action.next;
        }
        if (action == null)
        {
            spin_unlock_irqrestore(s.dlock, fl);
            mutex_unlock(s.request_mutex);
            WARN(true, $"Trying to free already-free IRQ {irq}");
            goto out_unlock;
        }
        if (prev == null)
            s.desc.action = action.next;
        else
            prev.next = action.next;
        if (s.desc.action == null)
        {
            kfree(s.counts); // ok: KH1001 (kfree never sleeps; fine under the descriptor lock)
            s.counts = NULL;
        }
        if (action.thread != null)
            kthread_stop(action.thread); // expect: KH1001 (kthread_stop waits for the irq thread; descriptor lock held, interrupts off)
        spin_unlock_irqrestore(s.dlock, fl);
        synchronize_irq(irq); // ok: KH1001 (the descriptor lock was dropped before this wait; only the request mutex is held)
        spin_lock(ext_lock);
        if (ext_of.Remove(action, out kptr ext))
            kfree(ext);
        spin_unlock(ext_lock);
    out_unlock:
        mutex_unlock(s.request_mutex); // expect: KH2003 (on the not-found path request_mutex was already released above)
        return 0;
    }

    public void line_disable(uint irq)
    {
        var s = slot_of(irq);
        if (s == null)
            return;
        spin_lock_irqsave(s.dlock, out ulong fl);
        s.desc.depth++;
        synchronize_irq(irq); // expect: KH1001 (synchronize_irq sleeps for threaded handlers; descriptor lock held)
        spin_unlock_irqrestore(s.dlock, fl);
    }

    public void line_disable_nosync(uint irq)
    {
        var s = slot_of(irq);
        if (s == null)
            return;
        spin_lock_irqsave(s.dlock, out ulong fl);
        s.desc.depth++;
        spin_unlock_irqrestore(s.dlock, fl); // ok: KH2004 (matching release with the saved flags)
    }

    public void line_enable(uint irq)
    {
        var s = slot_of(irq);
        if (s == null)
            return;
        spin_lock_irqsave(s.dlock, out ulong fl);
        if (s.desc.depth == 0)
            WARN(true, $"Unbalanced enable for IRQ {irq}");
        else
            s.desc.depth--;
        spin_unlock_irq(s.dlock); // expect: KH2004 (irqsave lock released with spin_unlock_irq: interrupts are enabled even if the caller had them off)
    }

    // handle_irq_event: the interrupt controller calls this in hard-IRQ context with interrupts off.
    [AtomicContext]
    public irqreturn_t dispatch(uint irq)
    {
        var s = slot_of(irq);
        if (s == null)
            return IRQ_NONE;
        spin_lock(s.dlock);
        if (s.polling)
            irq_wait_for_poll(s); // expect: KH1001 (the helper msleeps; dispatch is atomic and holds the descriptor lock)
        s.desc.kstat_irqs++;
        if (s.desc.action == null || s.desc.depth > 0)
        {
            spin_unlock(s.dlock);
            return IRQ_NONE; // ok: KH2003 (descriptor lock dropped before this early return)
        }
        if (s.counts == NULL)
            s.counts = kcalloc(MAX_ACTIONS, 8, GFP_ATOMIC); // ok: KH1002 (GFP_ATOMIC in the atomic dispatch path)
        s.desc.handlers_running++;
        irqreturn_t ret = IRQ_NONE;
        int idx = 0;
        for (var a = s.desc.action; a != null; a = a.next, idx++)
        {
            spin_unlock(s.dlock);
            var r = a.handler!((int)irq, a.dev_id);
            spin_lock(s.dlock); // ok: KH2003 (re-taken after the handler ran unlocked; released once below)
            if (r != IRQ_NONE && s.counts != NULL && idx < MAX_ACTIONS)
                ptr_ref<ulong>(s.counts + idx * 8)++;
            if ((r & IRQ_WAKE_THREAD) != 0 && a.thread != null)
                wake_up_process(a.thread); // ok: KH1001 (wake_up_process never sleeps)
            ret |= r;
        }
        s.desc.handlers_running--;
        if (note_unhandled(s, ret))
        {
            kptr rep = kzalloc(EXT_SIZE, GFP_KERNEL); // expect: KH1002 (GFP_KERNEL in the atomic dispatch path with the descriptor lock held)
            if (rep != NULL)
            {
                ptr_ref<uint>(rep) = irq;
                ptr_ref<uint>(rep + 4) = s.reports;
                spin_lock(report_lock);
                pending_reports.Add(rep);
                spin_unlock(report_lock);
                schedule_work(report_work); // ok: KH1001 (schedule_work only queues the work; it does not sleep)
            }
        }
        spin_unlock(s.dlock); // ok: KH2004 (taken with plain spin_lock: interrupts are already off in hard-IRQ context)
        return ret;
    }

    // Waits until the spurious poller has finished with this line.
    private void irq_wait_for_poll(desc_slot s)
    {
        while (s.polling)
        {
            spin_unlock(s.dlock); // expect: KH2003 (releases s.dlock, which this helper never took: the caller's hold is not visible here without [MustHold], as sparse says)
            msleep(1);
            spin_lock(s.dlock);
        }
    }

    // note_interrupt: true when the line has just been disabled as spurious.
    private bool note_unhandled(desc_slot s, irqreturn_t ret)
    {
        var d = s.desc;
        if (ret == IRQ_NONE)
        {
            ulong now = jiffies;
            if (now > d.last_unhandled + HZ / 10) // expect: KH5001 (raw > between jiffies and a time derived from last_unhandled)
                d.irqs_unhandled = 1;
            else
                d.irqs_unhandled++;
            d.last_unhandled = now;
        }
        if (d.irqs_unhandled == 0)
            return false;
        if (++d.irq_count < 100_000) // ok: KH5001 (an interrupt count, not a time)
            return false;
        d.irq_count = 0;
        bool disabled = false;
        if (d.irqs_unhandled > 99_900)
        {
            if (time_after_eq(jiffies, s.next_warn)) // ok: KH5001 (wrap-safe time_after_eq)
            {
                pr_err($"irq {d.irq}: nobody cared (try booting with the \"irqpoll\" option)");
                for (var a = d.action; a != null; a = a.next)
                    pr_err($"[<{a.name}>]");
                s.next_warn = jiffies + 10 * HZ;
                s.reports++;
            }
            d.depth++;
            disabled = true;
        }
        d.irqs_unhandled = 0;
        return disabled;
    }

    // A line that has answered IRQ_NONE only long ago is worth a second chance.
    public bool line_quiet(uint irq)
    {
        var s = slot_of(irq);
        if (s == null || s.desc.last_unhandled == 0) // ok: KH5001 (an equality test, not an ordering of times)
            return false;
        return jiffies - s.desc.last_unhandled > HZ; // ok: KH5001 (difference of two times compared with a duration)
    }

    // Softirq: every 100 ms, run the handlers of every line once to pick up lost interrupts (irqpoll).
    private void poll_spurious_irqs(timer_list t)
    {
        poll_runs++;
        for (uint irq = 0; irq < NR_LINES; irq++)
        {
            var s = slots[irq];
            spin_lock_irqsave(s.dlock, out ulong fl);
            if (s.desc.action == null || s.desc.depth == 0)
            {
                spin_unlock_irqrestore(s.dlock, fl);
                continue;
            }
            s.polling = true;
            for (var a = s.desc.action; a != null; a = a.next)
                a.handler!((int)irq, a.dev_id);
            s.polling = false;
            spin_unlock_irqrestore(s.dlock, fl);
            settle_line(s, false); // ok: KH1001 (constant false: the helper's msleep branch cannot run from this softirq caller)
        }
        mod_timer(t, jiffies + HZ / 10);
    }

    private void settle_line(desc_slot s, bool may_sleep)
    {
        if (may_sleep)
            msleep(2);
        else
            mdelay(2);
    }

    // Waits, up to timeout_ms, until no handler or irq thread of the line is running.
    public int line_quiesce(uint irq, uint timeout_ms)
    {
        var s = slot_of(irq);
        if (s == null)
            return -EINVAL;
        ulong deadline = jiffies + msecs_to_jiffies(timeout_ms);
        while (s.desc.handlers_running > 0 || s.desc.threads_active > 0)
        {
            if (jiffies > deadline) // expect: KH5001 (raw > between jiffies and the deadline jiffies + timeout)
                return -EBUSY;
            settle_line(s, true); // ok: KH1001 (process context with nothing held: sleeping here is fine)
        }
        return 0;
    }

    // Process context: prints and frees the reports the dispatch path queued.
    private void report_work_fn(work_struct w)
    {
        spin_lock_irqsave(report_lock, out ulong fl);
        var batch = new List<kptr>(pending_reports);
        pending_reports.Clear();
        spin_unlock_irqrestore(report_lock, fl);
        foreach (var rep in batch)
            pr_err($"irq {ptr_ref<uint>(rep)}: disabled as spurious, report #{ptr_ref<uint>(rep + 4)}");
        foreach (var rep in batch)
            kfree(rep);
        kptr summary = kmalloc(EXT_SIZE, GFP_KERNEL); // ok: KH1002 (work item: process context, report_lock already dropped)
        if (summary == NULL)
            return;
        memset(summary, 0, EXT_SIZE);
        ptr_ref<ulong>(summary) = poll_runs;
        kfree(summary);
    }
}
