// Heartbeat monitor for a four-channel sensor board: deadlines kept in locals, fields and a per-channel struct,
// a poll timer re-armed with mod_timer. Holds raw jiffies comparisons, sleeping and blocking-GFP calls in timer context.
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.R4JHeartbeatMon;

public struct HbChannel
{
    public ulong deadline;   // jiffies time by which the next beat is due
    public ulong last_beat;  // jiffies time of the last beat
    public ulong period;     // a duration, in jiffies
    public int misses;
    public bool armed;
}

public sealed class HeartbeatMon
{
    private const int NCHAN = 4;
    private const int REC_BYTES = 64;

    private readonly spinlock_t hb_lock = new();
    private readonly mutex cfg_lock = new();
    private readonly timer_list poll_timer = new();
    private readonly timer_list grace_timer = new();
    private readonly wait_queue_head_t beat_wq = new();
    private readonly work_struct report_work = new();
    private readonly HbChannel[] chan = new HbChannel[NCHAN];
    private readonly System.Action<timer_list> grace_fn;

    private ulong next_poll;
    private ulong probe_time;
    private ulong poll_interval;
    private ulong last_report;
    private uint irq;
    private int status_reg;
    private int beats;
    private int cfg_generation;
    private bool board_ready;
    private bool shutting_down;

    public HeartbeatMon()
    {
        grace_fn = grace_expired;
    }

    public int probe(uint irq_line)
    {
        irq = irq_line;
        poll_interval = msecs_to_jiffies(250);
        if (poll_interval < 1) // ok: a duration from msecs_to_jiffies compared with a constant, no time involved
            poll_interval = 1;
        int err = wait_board_ready();
        if (err != 0)
            return err;
        probe_time = jiffies;
        for (int i = 0; i < NCHAN; i++)
        {
            chan[i].period = msecs_to_jiffies(500);
            chan[i].last_beat = probe_time;
            chan[i].deadline = probe_time + chan[i].period;
            chan[i].misses = 0;
            chan[i].armed = true;
        }
        timer_setup(poll_timer, poll_timer_fn, 0);
        timer_setup(grace_timer, grace_fn, 0);
        INIT_WORK(report_work, report_fn);
        err = request_irq(irq, hb_isr, 0, "heartbeat", this);
        if (err != 0)
            return err;
        next_poll = jiffies + poll_interval;
        mod_timer(poll_timer, next_poll); // ok: arming a timer from process context
        return 0;
    }

    // Spin (no sleep) until the board reports ready, at most half a second.
    private int wait_board_ready()
    {
        ulong timeout = jiffies + HZ / 2;
        while (jiffies < timeout) // expect: KH5001 (jiffies compared raw with the local deadline jiffies + HZ/2)
        {
            if (board_ready)
                return 0;
            cpu_relax();
        }
        return -ETIMEDOUT;
    }

    // Hard-IRQ context: one beat arrived on the channel named in the status word.
    private irqreturn_t hb_isr(int irq_no, object? dev_id)
    {
        if (dev_id is not HeartbeatMon mon || mon.status_reg == 0)
            return IRQ_NONE;
        int ch = mon.status_reg & (NCHAN - 1);
        spin_lock(hb_lock);
        ulong now = jiffies;
        if (now > chan[ch].deadline) // expect: KH5001 (jiffies snapshot compared raw with the channel's deadline field)
            chan[ch].misses++;
        chan[ch].last_beat = now;
        chan[ch].deadline = now + chan[ch].period;
        beats++;
        spin_unlock(hb_lock);
        var trace = kmalloc(16, GFP_ATOMIC); // ok: GFP_ATOMIC in a hard-IRQ handler
        if (trace != NULL)
            kfree(trace);
        mod_timer(grace_timer, jiffies + msecs_to_jiffies(100)); // ok: mod_timer never sleeps, fine in hard IRQ
        wake_up_interruptible(beat_wq); // ok: wake_up does not sleep, the usual way a handler signals waiters
        return IRQ_HANDLED;
    }

    // Softirq context (timer_setup).
    private void poll_timer_fn(timer_list t)
    {
        int dead = 0;
        spin_lock_irqsave(hb_lock, out ulong flags);
        for (int i = 0; i < NCHAN; i++)
        {
            if (!chan[i].armed)
                continue;
            if (time_after(jiffies, chan[i].deadline)) // ok: time_after is the wrap-safe comparison
                chan[i].misses++;
            if (jiffies - chan[i].last_beat > 4 * chan[i].period) // ok: difference of two times compared with a duration
            {
                chan[i].armed = false;
                dead++;
            }
        }
        spin_unlock_irqrestore(hb_lock, flags);
        if (jiffies > t.expires + HZ / 10) // expect: KH5001 (jiffies compared raw with the timer's expiry time plus a slack)
            pr_warn("heartbeat: poll timer ran late\n");
        if (dead > 0)
        {
            var rec = kmalloc(REC_BYTES, GFP_KERNEL); // expect: KH1002 (GFP_KERNEL in a timer callback, softirq context)
            if (rec != NULL)
            {
                memset(rec, dead, REC_BYTES);
                kfree(rec);
            }
            log_event(dead);
            schedule_work(report_work); // ok: queueing work never sleeps
        }
        settle_bus(false); // ok: the helper sleeps only when its constant argument is true
        next_poll += poll_interval;
        if (next_poll <= jiffies) // expect: KH5001 (next_poll field, a jiffies time, compared raw with jiffies)
            next_poll = jiffies + poll_interval;
        mod_timer(t, next_poll); // ok: re-arming the timer from its own callback
    }

    // Softirq context: registered through the grace_fn delegate field.
    private void grace_expired(timer_list t)
    {
        var note = kzalloc(REC_BYTES, GFP_ATOMIC); // ok: GFP_ATOMIC in softirq context
        if (note == NULL)
            return;
        ptr_ref<int>(note) = beats;
        mdelay(1); // ok: busy wait, allowed in softirq context
        if (cfg_generation != 0)
            reload_config(); // expect: KH1001 (helper takes cfg_lock, a mutex, from a timer callback)
        msleep(5); // expect: KH1001 (msleep in the grace timer callback, softirq context)
        kfree(note);
    }

    // Sleeps only when the caller says it may.
    private void settle_bus(bool can_sleep)
    {
        if (can_sleep)
            msleep(2);
        else
            udelay(50);
    }

    // Called from the poll timer and from the report work item.
    private void log_event(int code)
    {
        var ev = kmalloc(16, GFP_ATOMIC); // ok: also reached from the poll timer (softirq), so GFP_ATOMIC is required
        if (ev == NULL)
            return;
        ptr_ref<int>(ev) = code;
        kfree(ev);
    }

    private void reload_config()
    {
        mutex_lock(cfg_lock);
        cfg_generation++;
        mutex_unlock(cfg_lock);
    }

    private static bool expired(ulong deadline) => jiffies >= deadline; // expect: KH5001 (jiffies compared raw with a deadline parameter)

    private static bool expired_safe(ulong deadline) => time_after_eq(jiffies, deadline); // ok: wrap-safe helper

    // Process context (INIT_WORK): summarize the dead channels.
    private void report_fn(work_struct w)
    {
        settle_bus(true); // ok: work item, process context, may sleep
        var buf = kcalloc(NCHAN, REC_BYTES, GFP_ATOMIC); // expect: KH1003 (GFP_ATOMIC in a work item, process context, nothing held)
        if (buf == NULL)
            return;
        spin_lock_irq(hb_lock);
        for (int i = 0; i < NCHAN; i++)
            ptr_ref<int>(buf) += chan[i].misses;
        spin_unlock_irq(hb_lock);
        if (jiffies - HZ > last_report) // expect: KH5001 (jiffies - HZ is a time, compared raw with the last_report time)
            pr_info("heartbeat: channels lost\n");
        if (jiffies - last_report >= 10 * HZ) // ok: difference of two times compared with a duration
            pr_info("heartbeat: first report in ten seconds\n");
        last_report = jiffies;
        log_event(0);
        kfree(buf);
    }

    // Process context: block until the next beat or a timeout, the LKD chapter 4 way.
    public int wait_for_beat(uint timeout_ms)
    {
        ulong deadline = jiffies + msecs_to_jiffies(timeout_ms);
        int seen = beats;
        var wait = DEFINE_WAIT();
        for (;;)
        {
            prepare_to_wait(beat_wq, wait, TASK_INTERRUPTIBLE);
            if (beats != seen)
                break;
            if (signal_pending(current))
            {
                finish_wait(beat_wq, wait);
                return -ERESTARTSYS;
            }
            if (expired_safe(deadline))
            {
                finish_wait(beat_wq, wait);
                return -ETIMEDOUT;
            }
            schedule_timeout((long)(deadline - jiffies)); // ok: inside the LKD loop that re-tests beats each time round
        }
        finish_wait(beat_wq, wait);
        return 0;
    }

    // Process context: the quick version a student writes first.
    public int wait_first_beat()
    {
        var wait = DEFINE_WAIT();
        prepare_to_wait(beat_wq, wait, TASK_INTERRUPTIBLE);
        if (beats == 0)
            schedule(); // expect: KH5002 (beats tested once; a spurious wake-up returns with no beat)
        finish_wait(beat_wq, wait);
        return 0;
    }

    public int wait_channel_beat(int ch)
    {
        if (ch < 0 || ch >= NCHAN)
            return -EINVAL;
        return wait_event_interruptible(beat_wq, () => chan[ch].last_beat != probe_time); // ok: wait_event loops by itself
    }

    public bool channel_overdue(int ch)
    {
        ulong dl = chan[ch].deadline;
        if (dl == jiffies) // ok: equality is not one of the flagged operators
            return false;
        return expired(dl);
    }

    public int dump_misses()
    {
        var buf = kzalloc(NCHAN * 4, GFP_ATOMIC); // ok: public method with unknown callers, KH1003 does not apply
        if (buf == NULL)
            return -ENOMEM;
        for (int i = 0; i < NCHAN; i++)
            ptr_ref<int>(buf) += chan[i].misses;
        int total = ptr_ref<int>(buf);
        kfree(buf);
        return total;
    }

    public int set_period(int ch, uint ms)
    {
        if (ch < 0 || ch >= NCHAN || ms == 0)
            return -EINVAL;
        reload_config(); // ok: public method, process context, may sleep
        spin_lock_irqsave(hb_lock, out ulong flags);
        chan[ch].period = msecs_to_jiffies(ms);
        chan[ch].deadline = chan[ch].last_beat + chan[ch].period;
        spin_unlock_irqrestore(hb_lock, flags);
        settle_bus(true); // ok: lock dropped before the sleeping helper
        return 0;
    }

    public void suspend()
    {
        spin_lock_irqsave(hb_lock, out ulong flags);
        shutting_down = true;
        del_timer_sync(poll_timer); // expect: KH1001 (del_timer_sync may sleep; hb_lock is held with irqs off)
        spin_unlock_irqrestore(hb_lock, flags);
    }

    public void remove()
    {
        shutting_down = true;
        free_irq(irq, this);
        spin_lock_irqsave(hb_lock, out ulong flags);
        del_timer(grace_timer); // ok: del_timer does not wait, fine under a spinlock
        for (int i = 0; i < NCHAN; i++)
            chan[i].armed = false;
        spin_unlock_irqrestore(hb_lock, flags);
        del_timer_sync(poll_timer); // ok: hb_lock dropped, process context
        del_timer_sync(grace_timer); // ok: process context, nothing held
        cancel_work_sync(report_work);
    }
}
