// Input-event queue for a keypad controller: the IRQ handler queues timestamped events, a tasklet drains them,
// readers block on wait queues. Holds one-shot waits after prepare_to_wait, sleeping waits in IRQ/tasklet context.
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.R4JEventQueue;

public sealed class EventQueue
{
    private const int QLEN = 32;
    private const int NSUB = 3;

    private readonly spinlock_t q_lock = new();
    private readonly wait_queue_head_t read_wq = new();
    private readonly wait_queue_head_t space_wq = new();
    private readonly wait_queue_head_t[] sub_wq = { new(), new(), new() };
    private readonly completion flush_done = new();
    private readonly tasklet_struct bh = new();
    private readonly int[] codes = new int[QLEN];
    private readonly ulong[] stamps = new ulong[QLEN];

    private int head, tail, count;
    private int hw_code, overflows, late_events;
    private bool flush_requested, dead;
    private uint irq, ovf_irq;

    public int open_queue(uint key_irq, uint overflow_irq)
    {
        irq = key_irq;
        ovf_irq = overflow_irq;
        init_completion(flush_done);
        tasklet_setup(bh, bh_fn);
        int err = request_irq(irq, key_isr, 0, "evq-keys", this);
        if (err != 0)
            return err;
        err = request_threaded_irq(ovf_irq, ovf_quick, ovf_thread, IRQF_ONESHOT, "evq-ovf", this);
        if (err != 0)
        {
            free_irq(irq, this);
            return err;
        }
        // Debug line: a student's "wait for room" inside the handler itself.
        err = request_irq(irq + 1, (n, d) =>
        {
            if (hw_code == 0)
                return IRQ_NONE;
            wait_event_timeout(space_wq, () => count < QLEN, (long)(HZ / 100)); // expect: KH1001 (wait_event_timeout in a hard-IRQ handler)
            return IRQ_HANDLED;
        }, 0, "evq-debug", this);
        if (err != 0)
        {
            free_irq(ovf_irq, this);
            free_irq(irq, this);
            return err;
        }
        return 0;
    }

    // Hard-IRQ context.
    private irqreturn_t key_isr(int irq_no, object? dev_id)
    {
        if (dev_id is not EventQueue q || q.hw_code == 0)
            return IRQ_NONE;
        spin_lock(q_lock);
        if (count == QLEN)
            overflows++;
        else
        {
            codes[head] = hw_code;
            stamps[head] = jiffies;
            head = (head + 1) % QLEN;
            count++;
        }
        spin_unlock(q_lock);
        tasklet_schedule(bh); // ok: scheduling a tasklet never sleeps
        wake_up_interruptible(read_wq); // ok: wake_up from a hard-IRQ handler
        return IRQ_HANDLED;
    }

    private irqreturn_t ovf_quick(int irq_no, object? dev_id)
    {
        if (dev_id is not EventQueue q || q.overflows == 0)
            return IRQ_NONE;
        var mark = kmalloc(16, GFP_NOWAIT); // ok: GFP_NOWAIT never blocks, allowed in hard IRQ
        if (mark != NULL)
            kfree(mark);
        return IRQ_WAKE_THREAD;
    }

    // thread_fn of request_threaded_irq: process context.
    private irqreturn_t ovf_thread(int irq_no, object? dev_id)
    {
        var dump = kmalloc(4 * QLEN, GFP_ATOMIC); // expect: KH1003 (GFP_ATOMIC in a thread_fn, process context, nothing held)
        if (dump == NULL)
            return IRQ_HANDLED;
        wait_event_timeout(space_wq, () => count < QLEN / 2, (long)HZ); // ok: thread_fn runs in process context and may sleep
        spin_lock_irq(q_lock);
        ptr_ref<int>(dump) = overflows;
        overflows = 0;
        spin_unlock_irq(q_lock);
        kfree(dump);
        return IRQ_HANDLED;
    }

    // Softirq context (tasklet_setup).
    private void bh_fn(tasklet_struct t)
    {
        spin_lock_irq(q_lock);
        int idx = tail;
        int n = count;
        for (int i = 0; i < n; i++)
        {
            if (jiffies - stamps[idx] > HZ / 10) // ok: difference of two times compared with a duration
                late_events++;
            idx = (idx + 1) % QLEN;
        }
        bool full = count == QLEN;
        spin_unlock_irq(q_lock);
        var snap = kzalloc(4 * QLEN, GFP_KERNEL); // expect: KH1002 (GFP_KERNEL in a tasklet, softirq context)
        if (snap != NULL)
            kfree(snap);
        if (flush_requested)
        {
            flush_requested = false;
            complete(flush_done); // ok: complete() does not sleep, fine in softirq
        }
        wake_up_all(read_wq); // ok: wake_up from a tasklet
        if (full)
        {
            var wait = DEFINE_WAIT();
            prepare_to_wait(space_wq, wait, TASK_UNINTERRUPTIBLE);
            if (count == QLEN)
                schedule(); // expect: KH1001, KH5002 (schedule in a tasklet, and no loop re-testing count after the wake-up)
            finish_wait(space_wq, wait);
        }
    }

    private int pop_locked()
    {
        int code = codes[tail];
        tail = (tail + 1) % QLEN;
        count--;
        return code;
    }

    // Process context: the LKD chapter 4 loop.
    public int read_event(out int code)
    {
        code = 0;
        var wait = DEFINE_WAIT();
        for (;;)
        {
            prepare_to_wait(read_wq, wait, TASK_INTERRUPTIBLE);
            if (count > 0 || dead)
                break;
            if (signal_pending(current))
            {
                finish_wait(read_wq, wait);
                return -ERESTARTSYS;
            }
            schedule(); // ok: the LKD loop, count is tested again after every wake-up
        }
        finish_wait(read_wq, wait);
        if (dead)
            return -ENODEV;
        spin_lock_irq(q_lock);
        code = count > 0 ? pop_locked() : 0;
        spin_unlock_irq(q_lock);
        wake_up(space_wq);
        return 0;
    }

    public int read_event_while()
    {
        var wait = DEFINE_WAIT();
        while (count == 0)
        {
            prepare_to_wait(read_wq, wait, TASK_INTERRUPTIBLE);
            if (signal_pending(current))
                break;
            schedule(); // ok: while loop re-tests count each time round
        }
        finish_wait(read_wq, wait);
        return count == 0 ? -ERESTARTSYS : 0;
    }

    public int read_event_once()
    {
        var wait = DEFINE_WAIT();
        prepare_to_wait(read_wq, wait, TASK_INTERRUPTIBLE);
        schedule(); // expect: KH5002 (one unconditional schedule, count is never re-tested)
        finish_wait(read_wq, wait);
        return count > 0 ? 0 : -EAGAIN;
    }

    public void read_event_retry3()
    {
        var wait = DEFINE_WAIT();
        for (int i = 0; i < 3; i++)
        {
            prepare_to_wait(read_wq, wait, TASK_INTERRUPTIBLE);
            schedule(); // expect: KH5002 (counting loop that never tests count, sleeps three times whatever happens)
        }
        finish_wait(read_wq, wait);
    }

    public void read_event_stale()
    {
        var wait = DEFINE_WAIT();
        bool empty = count == 0;
        while (empty)
        {
            prepare_to_wait(read_wq, wait, TASK_INTERRUPTIBLE);
            schedule(); // expect: KH5002 (loop tests a local snapshot that nothing updates)
        }
        finish_wait(read_wq, wait);
    }

    public int read_event_signal_only()
    {
        var wait = DEFINE_WAIT();
        prepare_to_wait(read_wq, wait, TASK_INTERRUPTIBLE);
        if (!signal_pending(current))
            schedule(); // expect: KH5002 (no loop: a wake-up meant for another reader returns with count still 0)
        finish_wait(read_wq, wait);
        return 0;
    }

    public void read_event_break()
    {
        var wait = DEFINE_WAIT();
        while (true)
        {
            prepare_to_wait(read_wq, wait, TASK_INTERRUPTIBLE);
            schedule(); // expect: KH5002 (endless loop left by an unconditional break: count is never re-tested)
            break;
        }
        finish_wait(read_wq, wait);
    }

    public int read_event_dowhile()
    {
        var wait = DEFINE_WAIT();
        do
        {
            prepare_to_wait(read_wq, wait, TASK_INTERRUPTIBLE);
            if (count == 0)
                schedule(); // ok: the do-while condition re-tests count after each wake-up
        } while (count == 0 && !signal_pending(current));
        finish_wait(read_wq, wait);
        return count > 0 ? 0 : -ERESTARTSYS;
    }

    public int read_event_exclusive()
    {
        var wait = DEFINE_WAIT();
        for (;;)
        {
            prepare_to_wait_exclusive(read_wq, wait, TASK_INTERRUPTIBLE);
            if (count > 0 || signal_pending(current))
                break;
            schedule(); // ok: exclusive waiter in the LKD loop
        }
        finish_wait(read_wq, wait);
        return count > 0 ? 0 : -ERESTARTSYS;
    }

    public int read_event_tries()
    {
        var wait = DEFINE_WAIT();
        int tries = 0;
        while (tries++ < 3)
        {
            prepare_to_wait(read_wq, wait, TASK_INTERRUPTIBLE);
            if (count > 0)
                break;
            schedule_timeout((long)(HZ / 10)); // ok: the counting loop is left as soon as count is seen non-zero
        }
        finish_wait(read_wq, wait);
        return count > 0 ? 0 : -ETIMEDOUT;
    }

    // Wait once on every sub-queue in turn.
    public void wait_all_subscribers()
    {
        var wait = DEFINE_WAIT();
        foreach (var wq in sub_wq)
        {
            prepare_to_wait(wq, wait, TASK_INTERRUPTIBLE);
            schedule(); // expect: KH5002 (looping over queues is not re-testing any condition)
            finish_wait(wq, wait);
        }
    }

    public int wait_writable()
    {
        long left = wait_event_interruptible_timeout(space_wq, () => count < QLEN, (long)HZ); // ok: wait_event* loops by itself
        if (left > 0) // ok: remaining duration compared with a constant, not a jiffies time
            return 0;
        return left == 0 ? -ETIMEDOUT : -ERESTARTSYS;
    }

    public int drop_stale()
    {
        int dropped = 0;
        ulong cutoff = jiffies - 2 * HZ;
        spin_lock_irq(q_lock);
        while (count > 0 && stamps[tail] < cutoff) // expect: KH5001 (event timestamp compared raw with the jiffies-derived cutoff)
        {
            pop_locked();
            dropped++;
        }
        while (count > 0 && time_before(stamps[tail], cutoff - HZ)) // ok: time_before is the wrap-safe comparison
        {
            pop_locked();
            dropped++;
        }
        spin_unlock_irq(q_lock);
        return dropped;
    }

    public void flush()
    {
        flush_requested = true;
        tasklet_schedule(bh);
        wait_for_completion(flush_done); // ok: process context, nothing held
    }

    public void flush_locked()
    {
        spin_lock_irq(q_lock);
        flush_requested = true;
        tasklet_schedule(bh);
        wait_for_completion(flush_done); // expect: KH1001 (wait_for_completion with q_lock held, irqs off)
        spin_unlock_irq(q_lock);
    }

    public void close_queue()
    {
        dead = true;
        wake_up_all(read_wq);
        free_irq(irq + 1, this);
        free_irq(ovf_irq, this);
        free_irq(irq, this);
        tasklet_kill(bh);
    }
}
