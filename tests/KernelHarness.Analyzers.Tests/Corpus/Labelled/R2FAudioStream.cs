// PCM playback stream: a feeder kernel thread started through a delegate property, a period tasklet (lambda), an xrun
// timer kept in a field, a stats work item (method group). Holds prepare_to_wait waits without re-checks, get_cpu imbalances, kthread mm use.
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.R2FAudioStream;

public sealed class AudioStream
{
    private const int RING_FRAMES = 4096;
    private const ulong FRAME_BYTES = 4;
    private const int PERIOD_FRAMES = 512;

    private readonly spinlock_t ring_lock = new();
    private readonly mutex params_lock = new();
    private readonly wait_queue_head_t space_wait = new(), period_wait = new(), drain_wait = new();
    private readonly tasklet_struct period_tasklet = new();
    private readonly timer_list xrun_timer = new();
    private readonly work_struct stats_work = new();
    private static readonly percpu<long> periods_done = DEFINE_PER_CPU<long>(), xrun_count = DEFINE_PER_CPU<long>();
    private readonly System.Action<timer_list> xrun_fn;
    private System.Func<object?, int> FeederFn { get; }
    private task_struct? feeder;
    private kptr ring = NULL;
    private uint irq;
    private int hw_ptr, appl_ptr;
    private int avail = RING_FRAMES, rate = 48000, applied_rate;
    private bool running, draining;
    private ulong last_period;
    private ulong feeder_vm, user_heap;
    private int irq_owner_pid, xrun_pid;
    private string period_comm = "";

    public AudioStream()
    {
        xrun_fn = t =>
        {
            this_cpu_inc(xrun_count);
            xrun_pid = current.pid; // expect: KH4003 (lambda kept in xrun_fn and registered with timer_setup: softirq context)
            running = false;
            wake_up_all(space_wait);
        };
        FeederFn = data => feeder_main(data);
    }

    public int probe(uint line)
    {
        irq = line;
        ring = kzalloc(RING_FRAMES * FRAME_BYTES, GFP_KERNEL);
        if (ring == NULL)
            return -ENOMEM;
        tasklet_setup(period_tasklet, t =>
        {
            ref long done = ref get_cpu_var(periods_done); // expect: KH2001 (get_cpu_var not undone on the !running return)
            if (!running)
                return;
            done++;
            put_cpu_var(periods_done);
            period_comm = current.comm; // expect: KH4003 (tasklet lambda runs in softirq context)
            var marker = alloc_marker();
            if (marker != NULL)
                kfree(marker);
            wake_up(period_wait);
        });
        timer_setup(xrun_timer, xrun_fn, 0);
        INIT_WORK(stats_work, stats_update);
        int err = request_irq(irq, dma_isr, IRQF_TRIGGER_RISING, "pcm-dma", this);
        if (err != 0)
        {
            kfree(ring);
            ring = NULL;
            return err;
        }
        return 0;
    }

    public int start()
    {
        running = true;
        feeder = kthread_run(FeederFn, this, "pcm-feeder");
        mod_timer(xrun_timer, jiffies + msecs_to_jiffies(200));
        return 0;
    }

    // ---- hard-IRQ context (method group) ----

    private irqreturn_t dma_isr(int irq_no, object? dev_id)
    {
        preempt_disable(); // expect: KH2001 (preempt_disable not undone on the IRQ_NONE return)
        if (dev_id is not AudioStream s || !s.running)
            return IRQ_NONE;
        hw_ptr = (hw_ptr + PERIOD_FRAMES) % RING_FRAMES;
        preempt_enable();
        spin_lock(ring_lock);
        avail += PERIOD_FRAMES;
        bool overrun = avail > RING_FRAMES;
        spin_unlock(ring_lock);
        trace_period();
        if (overrun)
            resync_params(); // expect: KH1001 (resync_params -> update_params_locked -> mutex_lock, from the hard-IRQ handler)
        last_period = jiffies;
        tasklet_schedule(period_tasklet);
        mod_timer(xrun_timer, jiffies + msecs_to_jiffies(200));
        return IRQ_HANDLED;
    }

    private void trace_period() => note_interrupted();

    private void note_interrupted()
    {
        irq_owner_pid = current.pid; // expect: KH4003 (reached from the hard-IRQ handler: dma_isr -> trace_period -> note_interrupted)
    }

    private void resync_params() => update_params_locked(rate);

    private void update_params_locked(int new_rate)
    {
        mutex_lock(params_lock);
        applied_rate = new_rate;
        mutex_unlock(params_lock);
    }

    private kptr alloc_marker()
    {
        return kmalloc(16, GFP_ATOMIC); // ok: also called from the period tasklet (softirq), so GFP_ATOMIC is needed
    }

    // ---- process context: the feeder kernel thread, started through FeederFn ----

    private int feeder_main(object? data)
    {
        feeder_vm = current.mm.total_vm; // expect: KH6002 (kthread_run through FeederFn: a kernel thread's current.mm is NULL)
        while (!kthread_should_stop())
        {
            if (!running)
            {
                set_current_state(TASK_INTERRUPTIBLE);
                schedule(); // ok: no prepare_to_wait here, and the kthread loop re-tests kthread_should_stop()
                __set_current_state(TASK_RUNNING);
                continue;
            }
            if (wait_for_space(PERIOD_FRAMES) != 0)
                continue;
            fill_period();
            var marker = alloc_marker();
            if (marker != NULL)
                kfree(marker);
        }
        return 0;
    }

    private int wait_for_space(int frames)
    {
        var wait = DEFINE_WAIT();
        int err = 0;
        for (;;)
        {
            prepare_to_wait(space_wait, wait, TASK_INTERRUPTIBLE);
            if (avail >= frames || kthread_should_stop())
                break;
            if (signal_pending(current)) // ok: current read in a kernel thread, process context
            {
                err = -EINTR;
                break;
            }
            schedule(); // ok: LKD ch. 4 loop form, avail is re-tested after every wake-up
        }
        finish_wait(space_wait, wait);
        return err;
    }

    private void fill_period()
    {
        var chunk = kmalloc(PERIOD_FRAMES * FRAME_BYTES, GFP_KERNEL);
        if (chunk == NULL)
            return;
        memset(chunk, 0, PERIOD_FRAMES * FRAME_BYTES);
        spin_lock_irqsave(ring_lock, out ulong flags);
        memcpy(ring + (ulong)appl_ptr * FRAME_BYTES, chunk, PERIOD_FRAMES * FRAME_BYTES);
        appl_ptr = (appl_ptr + PERIOD_FRAMES) % RING_FRAMES;
        avail -= PERIOD_FRAMES;
        spin_unlock_irqrestore(ring_lock, flags);
        kfree(chunk);
    }

    // ---- process context: stats work item (method group) ----

    private void stats_update(work_struct w)
    {
        int cpu = get_cpu();
        long done = per_cpu(periods_done, cpu);
        if (done == 0)
        {
            put_cpu();
            pr_debug("pcm: no periods on this cpu yet\n");
        }
        put_cpu(); // expect: KH2001 (on the done == 0 path put_cpu already ran: nothing left to undo)
        sample_user_heap();
        user_heap += heap_if_user();
        update_params_locked(rate); // ok: the same sleeping helper as in dma_isr, but a work item may sleep
        var log = kmalloc(256, GFP_ATOMIC); // expect: KH1003 (work item, process context with nothing held)
        if (log == NULL)
            return;
        memset(log, 0, 256);
        kfree(log);
    }

    private void sample_user_heap()
    {
        record_brk();
    }

    private void record_brk()
    {
        user_heap = current.mm.brk - current.mm.start_brk; // expect: KH6002 (reached from the stats work item: stats_update -> sample_user_heap -> record_brk, no null test)
    }

    private ulong heap_if_user()
    {
        if (current.mm == null)
            return 0;
        return current.mm.brk - current.mm.start_brk; // ok: current.mm is tested against null first
    }

    // ---- process-context entry points ----

    public int drain()
    {
        var wait = DEFINE_WAIT();
        draining = true;
        prepare_to_wait(drain_wait, wait, TASK_INTERRUPTIBLE);
        if (avail < RING_FRAMES)
            schedule(); // expect: KH5002 (a single schedule() under an if: a spurious wake-up ends the drain with frames still queued)
        finish_wait(drain_wait, wait);
        draining = false;
        return 0;
    }

    public int wait_period(long timeout)
    {
        var wait = DEFINE_WAIT();
        ulong seen = last_period;
        prepare_to_wait(period_wait, wait, TASK_INTERRUPTIBLE);
        long left = schedule_timeout(timeout); // expect: KH5002 (schedule_timeout after prepare_to_wait with no loop re-testing last_period)
        finish_wait(period_wait, wait);
        if (last_period != seen)
            return 0;
        return left == 0 ? -EAGAIN : -EINTR;
    }

    public int next_period()
    {
        int seen = hw_ptr;
        return wait_event_interruptible(period_wait, () => hw_ptr != seen); // ok: wait_event* loops by itself
    }

    public int set_rate(int new_rate)
    {
        rcu_read_lock();
        bool busy = running;
        if (!busy)
            update_params_locked(new_rate); // expect: KH1001 (update_params_locked -> mutex_lock inside an RCU read-side section)
        rcu_read_unlock();
        if (!busy)
            rate = new_rate;
        return busy ? -EBUSY : 0;
    }

    public int open_stream()
    {
        spin_lock_irqsave(ring_lock, out ulong flags);
        var desc = kzalloc(64, GFP_KERNEL); // expect: KH1002 (GFP_KERNEL while ring_lock is held with irqs off)
        hw_ptr = 0;
        appl_ptr = 0;
        spin_unlock_irqrestore(ring_lock, flags);
        if (desc == NULL)
            return -ENOMEM;
        kfree(desc);
        var note = kzalloc(64, GFP_KERNEL); // ok: ring_lock was dropped before this allocation
        if (note == NULL)
            return -ENOMEM;
        kfree(note);
        return 0;
    }

    public int reset_counters()
    {
        int cpu = get_cpu();
        per_cpu(xrun_count, cpu) = 0;
        update_params_locked(rate); // expect: KH1001 (update_params_locked -> mutex_lock with preemption disabled by get_cpu)
        put_cpu();
        return 0;
    }

    public long xruns_here()
    {
        int cpu = get_cpu(); // ok: released by finish_count, a helper whose summary does put_cpu
        long n = per_cpu(xrun_count, cpu);
        return finish_count(n);
    }

    private long finish_count(long n)
    {
        put_cpu(); // ok: releases the caller's get_cpu (its only caller, xruns_here, holds it)
        return n;
    }

    public long periods_here(bool reset)
    {
        int cpu = get_cpu(); // ok: try/finally undoes it on both returns
        try
        {
            if (reset)
                return per_cpu(periods_done, cpu) = 0;
            return per_cpu(periods_done, cpu);
        }
        finally
        {
            put_cpu();
        }
    }

    public void stop()
    {
        spin_lock_irqsave(ring_lock, out ulong flags);
        running = false;
        var t = feeder;
        feeder = null;
        spin_unlock_irqrestore(ring_lock, flags);
        if (t != null)
            kthread_stop(t); // ok: ring_lock was released before the sleeping kthread_stop
        del_timer_sync(xrun_timer);
    }

    public void remove()
    {
        stop();
        free_irq(irq, this);
        tasklet_kill(period_tasklet);
        cancel_work_sync(stats_work);
        kfree(ring);
        ring = NULL;
    }
}
