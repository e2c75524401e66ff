// A six-channel DMA engine: per-channel completion IRQs requested in a loop, tasklets, watchdog timers, reset work, idle wait queues.
// Holds: a shared threaded error line with a null cookie freed with another one, shared handlers that claim everything, current in an ISR helper, one-shot waits.
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.R5NDmaEngine;

public sealed class DmaChannel
{
    public readonly int index;
    public readonly uint done_irq;
    public kptr ring = NULL;
    public readonly spinlock_t ch_lock = new();
    public readonly tasklet_struct complete_tasklet = new();
    public readonly timer_list watchdog = new();
    public readonly work_struct reset_work = new();
    public readonly wait_queue_head_t idle_wq = new();
    public uint status;
    public int in_flight;
    public int completed;
    public int resets;
    public ulong started;
    public ulong timeout = msecs_to_jiffies(200);
    public int submit_pid;
    public int owner_pid;
    public int reset_pid;
    public int mm_maps;
    public bool hung;
    public bool slow;

    public DmaChannel(int index, uint done_irq)
    {
        this.index = index;
        this.done_irq = done_irq;
    }
}

public sealed class DmaEngine
{
    private const int NR_CHANS = 6;
    private const ulong RING_BYTES = 64 * 16;
    private static int stray_aborts;
    private readonly DmaChannel[] chans = new DmaChannel[NR_CHANS];
    private readonly mutex submit_lock = new();
    private readonly work_struct stats_work = new();
    private uint err_irq, abort_irq, desc_irq;
    private uint err_status;
    private int err_count;
    private int descs_done;
    private bool kernel_submitter;

    public int probe(uint first_done_irq, uint err_line, uint abort_line, uint desc_line)
    {
        err_irq = err_line;
        abort_irq = abort_line;
        desc_irq = desc_line;
        INIT_WORK(stats_work, stats_fn);
        for (int i = 0; i < NR_CHANS; i++)
        {
            var ch = new DmaChannel(i, first_done_irq + (uint)i);
            chans[i] = ch;
            ch.ring = kzalloc(RING_BYTES, GFP_KERNEL);
            if (ch.ring == NULL)
            {
                free_rings(i + 1);
                return -ENOMEM;
            }
            tasklet_setup(ch.complete_tasklet, complete_fn);
            timer_setup(ch.watchdog, t => chan_watchdog(ch), 0);
            INIT_WORK(ch.reset_work, reset_fn);
        }
        for (int i = 0; i < NR_CHANS; i++)
        {
            int err = request_irq(chans[i].done_irq, chan_done_isr, IRQF_SHARED, "dma-done", chans[i]); // ok: KH4001 each channel object is its own non-null cookie
            if (err != 0)
            {
                while (--i >= 0)
                    free_irq(chans[i].done_irq, chans[i]); // ok: KH4002 the same dev_id expression as the request
                free_rings(NR_CHANS);
                return err;
            }
        }
        int ret = request_threaded_irq(err_irq, null, err_thread, IRQF_SHARED | IRQF_ONESHOT, "dma-err", null); // expect: KH4001 (IRQF_SHARED with a null dev_id)
        if (ret != 0)
        {
            release_done_irqs();
            free_rings(NR_CHANS);
            return ret;
        }
        ret = request_irq(abort_irq, abort_isr, IRQF_SHARED, "dma-abort", this); // expect: KH4004 (abort_isr returns IRQ_HANDLED on every path; a static counter is not device state)
        if (ret != 0)
        {
            free_irq(err_irq, null); // ok: KH4002 same (null) dev_id as the request; the request is the KH4001 bug
            release_done_irqs();
            free_rings(NR_CHANS);
            return ret;
        }
        ret = request_threaded_irq(desc_irq, (irq, dev) => IRQ_HANDLED, desc_thread, IRQF_SHARED | IRQF_ONESHOT, "dma-desc", this); // expect: KH4004 (the hard half of a shared threaded IRQ claims every interrupt without reading the device)
        if (ret != 0)
        {
            free_irq(abort_irq, this);
            free_irq(err_irq, null);
            release_done_irqs();
            free_rings(NR_CHANS);
        }
        return ret;
    }

    private void free_rings(int n)
    {
        for (int i = 0; i < n; i++)
        {
            kfree(chans[i].ring);
            chans[i].ring = NULL;
        }
    }

    private void release_done_irqs()
    {
        for (int i = 0; i < NR_CHANS; i++)
            free_irq(chans[i].done_irq, chans[i]); // ok: KH4002 the same dev_id expression as the request loop
    }

    // Hard IRQ, one action per channel on the shared line.
    private irqreturn_t chan_done_isr(int irq, object? dev_id)
    {
        if (dev_id is not DmaChannel ch)
            return IRQ_NONE;
        spin_lock(ch.ch_lock);
        uint st = ch.status;
        ch.status = 0;
        spin_unlock(ch.ch_lock);
        if ((st & 0x1) == 0)
            return IRQ_NONE;
        trace_owner(ch);
        tasklet_schedule(ch.complete_tasklet);
        return IRQ_HANDLED;
    }

    private static void trace_owner(DmaChannel ch)
    {
        ch.owner_pid = current.pid; // expect: KH4003 (trace_owner() is called from chan_done_isr, a hard-IRQ handler)
    }

    private static irqreturn_t abort_isr(int irq, object? dev_id)
    {
        stray_aborts++;
        return IRQ_HANDLED;
    }

    // thread_fn of the error line: process context.
    private irqreturn_t err_thread(int irq, object? dev_id)
    {
        if (err_status == 0)
            return IRQ_NONE;
        mutex_lock(submit_lock); // ok: KH1001 a thread_fn runs in process context and may sleep
        err_count++;
        err_status = 0;
        mutex_unlock(submit_lock);
        return IRQ_HANDLED;
    }

    private irqreturn_t desc_thread(int irq, object? dev_id)
    {
        descs_done++;
        return IRQ_HANDLED;
    }

    private DmaChannel? find_by_tasklet(tasklet_struct t)
    {
        foreach (var ch in chans)
            if (ch.complete_tasklet == t)
                return ch;
        return null;
    }

    private DmaChannel? find_by_work(work_struct w)
    {
        foreach (var ch in chans)
            if (ch.reset_work == w)
                return ch;
        return null;
    }

    private kptr alloc_desc() => kmalloc(64, GFP_ATOMIC); // ok: KH1003 also called from the completion tasklet (softirq)

    // Tasklet (softirq): retire finished descriptors.
    private void complete_fn(tasklet_struct t)
    {
        var ch = find_by_tasklet(t);
        if (ch == null)
            return;
        spin_lock_irqsave(ch.ch_lock, out ulong flags);
        ch.completed += ch.in_flight;
        ch.in_flight = 0;
        spin_unlock_irqrestore(ch.ch_lock, flags);
        var bounce = alloc_desc();
        if (bounce != NULL)
        {
            memset(bounce, 0, 64);
            kfree(bounce);
        }
        if (ch.hung)
            cancel_work_sync(ch.reset_work); // expect: KH1001 (cancel_work_sync may sleep; the tasklet runs in softirq context)
        wake_up(ch.idle_wq);
        schedule_work(stats_work); // ok: KH1001 schedule_work only queues the item and never sleeps
    }

    // Watchdog timer (softirq), per channel.
    private void chan_watchdog(DmaChannel ch)
    {
        if (ch.in_flight == 0)
            return;
        if (ch.started + ch.timeout <= jiffies) // expect: KH5001 (raw <= between the channel's start time plus a duration and jiffies)
        {
            ch.hung = true;
            schedule_work(ch.reset_work);
            return;
        }
        if (jiffies - ch.started >= ch.timeout / 2) // ok: KH5001 elapsed time (a difference) compared with a duration
            ch.slow = true;
        mod_timer(ch.watchdog, jiffies + HZ / 10);
    }

    // Work items (reset_fn, stats_fn): process context.
    private void reset_fn(work_struct w)
    {
        var ch = find_by_work(w);
        if (ch == null)
            return;
        var snap = kmalloc(256, GFP_ATOMIC); // expect: KH1003 (a work item runs in process context with nothing held)
        if (snap != NULL)
        {
            memcpy(snap, ch.ring, 256);
            kfree(snap);
        }
        ch.mm_maps = current.mm.map_count; // expect: KH6002 (a work item runs in a kworker whose mm is null; no null check)
        ch.reset_pid = current.pid; // ok: KH4003 a work item runs in process context
        mutex_lock(submit_lock);
        spin_lock_irqsave(ch.ch_lock, out ulong flags);
        ch.in_flight = 0;
        ch.hung = false;
        ch.resets++;
        spin_unlock_irqrestore(ch.ch_lock, flags);
        mutex_unlock(submit_lock);
        wake_up_all(ch.idle_wq);
    }

    private void stats_fn(work_struct w)
    {
        kernel_submitter = init_mm == current.mm; // expect: KH6001 (init_mm compared with current.mm; the kernel-thread test is mm == null)
        int total = 0;
        foreach (var ch in chans)
            total += ch.completed;
        int maps = current.active_mm != null ? current.active_mm.map_count : 0; // ok: KH6002 active_mm, not mm, is what a kernel thread may use
        ulong vm = current.mm != null ? current.mm.total_vm : 0; // ok: KH6002 the ternary tests current.mm against null first
        pr_info("dma: " + total + " descriptors done, " + maps + " maps, " + vm + " pages");
    }

    public int submit(int idx, int n)
    {
        var ch = chans[idx];
        var d = alloc_desc();
        if (d == NULL)
            return -ENOMEM;
        mutex_lock(submit_lock);
        spin_lock_irqsave(ch.ch_lock, out ulong flags);
        ch.in_flight += n;
        ch.started = jiffies;
        ch.submit_pid = current.pid; // ok: KH4003 submit() runs in the calling task; irqs off is not interrupt context
        spin_unlock_irqrestore(ch.ch_lock, flags);
        mutex_unlock(submit_lock);
        kfree(d);
        mod_timer(ch.watchdog, ch.started + ch.timeout);
        return 0;
    }

    private bool chan_idle(DmaChannel ch)
    {
        spin_lock_irqsave(ch.ch_lock, out ulong flags);
        bool idle = ch.in_flight == 0;
        spin_unlock_irqrestore(ch.ch_lock, flags);
        return idle;
    }

    public void wait_all_idle()
    {
        var wait = DEFINE_WAIT();
        foreach (var ch in chans)
        {
            prepare_to_wait(ch.idle_wq, wait, TASK_UNINTERRUPTIBLE);
            if (!chan_idle(ch))
                schedule(); // expect: KH5002 (the foreach only walks channels; chan_idle(ch) is not re-tested after the wake-up)
            finish_wait(ch.idle_wq, wait);
        }
    }

    public int terminate(int idx)
    {
        var ch = chans[idx];
        ch.status |= 0x80;
        if (!chan_idle(ch))
        {
            var wait = DEFINE_WAIT();
            prepare_to_wait(ch.idle_wq, wait, TASK_UNINTERRUPTIBLE);
            schedule(); // expect: KH5002 (chan_idle() was tested once before prepare_to_wait; nothing re-tests it after the wake-up)
            finish_wait(ch.idle_wq, wait);
        }
        return 0;
    }

    public void sync_all()
    {
        var wait = DEFINE_WAIT();
        foreach (var ch in chans)
        {
            for (;;)
            {
                prepare_to_wait_exclusive(ch.idle_wq, wait, TASK_UNINTERRUPTIBLE);
                if (chan_idle(ch))
                    break;
                schedule(); // ok: KH5002 the inner for (;;) re-tests chan_idle(ch) after every wake-up
            }
            finish_wait(ch.idle_wq, wait);
        }
    }

    public void wait_idle(int idx)
    {
        var ch = chans[idx];
        wait_event(ch.idle_wq, () => chan_idle(ch)); // ok: KH5002 wait_event re-tests chan_idle() by itself
    }

    public void remove()
    {
        free_irq(desc_irq, this); // ok: KH4002 same dev_id (this) as the request
        free_irq(abort_irq, this); // ok: KH4002 same dev_id (this) as the request
        free_irq(err_irq, this); // expect: KH4002 (err_irq is requested only with a null dev_id)
        release_done_irqs();
        foreach (var ch in chans)
        {
            del_timer_sync(ch.watchdog);
            cancel_work_sync(ch.reset_work);
            tasklet_kill(ch.complete_tasklet);
        }
        cancel_work_sync(stats_work);
        free_rings(NR_CHANS);
    }
}
