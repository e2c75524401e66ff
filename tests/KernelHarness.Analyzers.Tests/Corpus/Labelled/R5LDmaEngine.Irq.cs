// DMA engine, part 2 of 2 (a partial class; the core is in R5LDmaEngine.Core.cs): hard-IRQ handler, error
// thread_fn, completion tasklet and stall watchdog, all calling helpers defined in the other half. Holds the
// four-deep recovery chain reached from a timer, blocking GFP handed to the other half's allocator from a tasklet,
// GFP_ATOMIC in the thread_fn, local_irq_enable inside a save region, an irq-off switch return, a put_cpu with
// nothing to undo, an irqsave lock released with spin_unlock_irq.
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.R5LDmaEngine;

public sealed partial class DmaEngine
{
    private readonly tasklet_struct done_bh = new();
    private readonly timer_list stall_timer = new();
    private kptr stale_table = NULL;
    private int completed;

    // Called from probe (Core half).
    private int register_irq_side(uint line)
    {
        tasklet_setup(done_bh, done_fn);
        timer_setup(stall_timer, stall_check, 0);
        return request_threaded_irq(line, dma_isr, dma_err_thread, IRQF_ONESHOT, "dma-eng", this);
    }

    // Called from shutdown (Core half).
    private void remove_irq_side()
    {
        del_timer_sync(stall_timer);
        free_irq(irq, this);
        tasklet_kill(done_bh);
    }

    // Hard-IRQ context.
    private irqreturn_t dma_isr(int irq_no, object? dev_id)
    {
        int st = status;
        if (st == 0)
            return IRQ_NONE;
        status = 0;
        for (int c = 0; c < NCHAN; c++)
        {
            if ((st & (1 << c)) == 0)
                continue;
            var ch = chans[c];
            spin_lock(ch.lk);
            ch.done++;
            if ((st & 0x80) != 0)
                stop_channel(ch, false); // ok: the constant false rules out stop_channel's msleep branch: only mdelay runs
            spin_unlock(ch.lk);
            wake_up(ch.idle_wq);
        }
        int cpu = get_cpu(); // ok: released by end_cpu_stats(), a helper whose summary releases
        per_cpu(kicks, cpu)++;
        end_cpu_stats();
        tasklet_schedule(done_bh);
        return (st & 0x100) != 0 ? IRQ_WAKE_THREAD : IRQ_HANDLED;
    }

    // thread_fn of request_threaded_irq: process context.
    private irqreturn_t dma_err_thread(int irq_no, object? dev_id)
    {
        for (int c = 0; c < NCHAN; c++)
        {
            if (!chans[c].error)
                continue;
            recover(chans[c]); // ok: the thread_fn runs in process context, so the wait_event_timeout down the chain may sleep
        }
        var log = kmalloc(128, GFP_ATOMIC); // expect: KH1003 (GFP_ATOMIC in the thread_fn: process context with nothing held)
        if (log != NULL)
        {
            memset(log, 0, 128);
            kfree(log);
        }
        var note = grab_note();
        if (note != NULL)
            kfree(note);
        return IRQ_HANDLED;
    }

    private kptr grab_note() => kmalloc(32, GFP_ATOMIC); // ok: also reached from the done_fn tasklet (softirq), so not a process-only method

    // Softirq context: tasklet.
    private void done_fn(tasklet_struct t)
    {
        if (stale_table != NULL)
        {
            vfree(stale_table); // ok: vfree in softirq context is deferred by Linux and does not sleep
            stale_table = NULL;
        }
        foreach (var ch in chans)
        {
            spin_lock_bh(ch.lk);
            int n = ch.done;
            ch.done = 0;
            if (ch.busy >= n)
                ch.busy -= n;
            spin_unlock_bh(ch.lk); // ok: spin_lock_bh paired with spin_unlock_bh
            if (n == 0)
                continue;
            var d = alloc_desc(ch, GFP_KERNEL); // expect: KH1002 (blocking GFP_KERNEL passed to the allocating helper alloc_desc from the done_fn tasklet)
            if (d == NULL)
                continue;
            completed += n;
            kmem_cache_free(desc_cache!, d);
        }
        var note = grab_note();
        if (note != NULL)
            kfree(note);
    }

    // Softirq context: timer callback.
    private void stall_check(timer_list t)
    {
        foreach (var ch in chans)
        {
            if (ch.busy == 0 || !time_after(jiffies, ch.last_kick + HZ))
                continue;
            ch.error = true;
            recover(ch); // expect: KH1001 (recover -> reset_channel -> quiesce -> wait_idle -> wait_event_timeout sleeps, from a timer callback: softirq)
        }
        mod_timer(stall_timer, jiffies + HZ);
    }

    public void retire_table()
    {
        spin_lock(eng_lock);
        var old = big_table;
        big_table = NULL;
        spin_unlock(eng_lock);
        stale_table = old;
        tasklet_schedule(done_bh);
    }

    public void kick_all()
    {
        local_irq_save(out ulong flags);
        foreach (var ch in chans)
        {
            ch.last_kick = jiffies;
            if (ch.busy > 4)
                local_irq_enable(); // expect: KH2002 (local_irq_enable inside the local_irq_save region of kick_all)
        }
        local_irq_restore(flags);
    }

    public int count_errors()
    {
        int n = 0;
        for (int c = 0; c < NCHAN; c++)
        {
            local_irq_save(out ulong f); // ok: restored before the continue and at the end of every round
            if (!chans[c].error)
            {
                local_irq_restore(f);
                continue;
            }
            n++;
            local_irq_restore(f);
        }
        return n;
    }

    public int set_burst_mode(int chan, int mode)
    {
        if ((uint)chan >= NCHAN)
            return -EINVAL;
        local_irq_disable(); // expect: KH2002 (the default case returns -EINVAL with interrupts still disabled)
        switch (mode)
        {
            case 0:
                chans[chan].burst = 1;
                break;
            case 1:
                chans[chan].burst = 16;
                break;
            default:
                return -EINVAL;
        }
        local_irq_enable();
        return 0;
    }

    public void note_kick(int chan)
    {
        int cpu = -1;
        if (chan >= 0)
            cpu = get_cpu();
        if (cpu >= 0)
            per_cpu(kicks, cpu)++;
        put_cpu(); // expect: KH2001 (when chan < 0 get_cpu was never called: put_cpu has nothing to undo)
    }

    public int busy_count(int chan)
    {
        var ch = chans[chan & (NCHAN - 1)];
        spin_lock_irqsave(ch.lk, out ulong flags);
        int b = ch.busy;
        spin_unlock_irq(ch.lk); // expect: KH2004 (spin_lock_irqsave released with spin_unlock_irq: the saved flags are discarded)
        return b;
    }

    private static void unlock_chan(DmaChan ch, ulong flags) => spin_unlock_irqrestore(ch.lk, flags); // ok: release helper; its only caller took ch.lk with spin_lock_irqsave

    public int clear_error(int chan)
    {
        var ch = chans[chan & (NCHAN - 1)];
        spin_lock_irqsave(ch.lk, out ulong flags);
        ch.error = false;
        ch.done = 0;
        unlock_chan(ch, flags); // ok: unlock_chan() releases with spin_unlock_irqrestore, the variant that matches
        return 0;
    }

    public void abort_all()
    {
        spin_lock_irqsave(eng_lock, out ulong flags);
        foreach (var ch in chans)
        {
            spin_lock(ch.lk);
            ch.busy = 0;
            spin_unlock(ch.lk); // ok: ch.lk was taken with plain spin_lock inside eng_lock's irqsave region
        }
        spin_unlock_irqrestore(eng_lock, flags);
    }

    public int pending_total()
    {
        local_irq_disable(); // ok: interrupts are enabled again before both returns
        int total = 0;
        foreach (var ch in chans)
            total += ch.busy;
        if (total < 0)
        {
            local_irq_enable();
            return -EIO;
        }
        local_irq_enable();
        return total;
    }

    public long take_kicks()
    {
        ref long k = ref get_cpu_var(kicks); // ok: put_cpu_var is reached on both paths, the early return included
        long v = k;
        if (v == 0)
        {
            put_cpu_var(kicks);
            return 0;
        }
        k = 0;
        put_cpu_var(kicks);
        return v;
    }

    public int done_count() => completed;
}
