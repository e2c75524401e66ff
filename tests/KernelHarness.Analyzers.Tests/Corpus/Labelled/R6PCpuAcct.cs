// CPU-state internals next to a student's ICpuState: per-CPU interrupt and softirq accounting read with get_cpu/put_cpu
// and this_cpu_*, nested interrupt-flag sections, preempt-depth tracing and context checks in a tasklet and a timer.
// Holds unbalanced get_cpu/get_cpu_var/preempt_disable, crossed or clobbered local_irq_save flags, local_irq_enable in a
// save region, sleeping and GFP_KERNEL with preemption off, current in softirq context and a raw jiffies test.
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.R6PCpuAcct;

public sealed class R6PCpuAcct
{
    private const uint NR_TRACKED_IRQS = 64;
    private const uint NR_SOFTIRQS = 10;
    private const ulong SAMPLE_SIZE = 32;

    private static readonly percpu<ulong> irq_hits = DEFINE_PER_CPU<ulong>();
    private static readonly percpu<ulong> softirq_runs = DEFINE_PER_CPU<ulong>();
    private static readonly percpu<int> max_preempt = DEFINE_PER_CPU<int>();
    private static readonly percpu<long> irq_nesting = DEFINE_PER_CPU<long>();

    private readonly spinlock_t sum_lock = new();
    private readonly tasklet_struct acct_tasklet = new();
    private readonly timer_list tick_timer = new();
    private ulong stop_flags;          // interrupt state saved by quiesce_and_fold, restored by quiesce_exit
    private ulong last_fold;           // jiffies of the last fold of the per-CPU counters
    private ulong total_hits;
    private ulong stale_folds;
    private uint fold_batch = 1024;
    private int last_owner_pid;
    private kptr trace;
    private kptr retired_trace;
    private kptr sample_ring;

    public int acct_init()
    {
        tasklet_setup(acct_tasklet, acct_tasklet_fn);
        timer_setup(tick_timer, tick_fn, 0);
        last_fold = jiffies;
        mod_timer(tick_timer, jiffies + HZ);
        return 0;
    }

    // Counts one interrupt on this CPU; irqs beyond the tracked range are refused.
    public int count_irq(uint irq)
    {
        int cpu = get_cpu(); // expect: KH2001 (the -EINVAL return for an untracked irq leaves preemption disabled)
        if (irq >= NR_TRACKED_IRQS)
            return -EINVAL;
        per_cpu(irq_hits, cpu)++;
        put_cpu();
        return 0;
    }

    public int count_softirq(uint nr)
    {
        int err = 0;
        int cpu = get_cpu(); // ok: KH2001 (every path reaches the shared put_cpu at out_put)
        if (nr >= NR_SOFTIRQS)
        {
            err = -EINVAL;
            goto out_put;
        }
        per_cpu(softirq_runs, cpu)++;
    out_put:
        put_cpu();
        return err;
    }

    public ulong hits_here()
    {
        int cpu = get_cpu(); // ok: KH2001 (put_cpu in the finally block runs on the return)
        try
        {
            return per_cpu(irq_hits, cpu);
        }
        finally
        {
            put_cpu();
        }
    }

    // Records a preempt-count high-water mark; refuses values the 8-bit preempt field cannot hold.
    public int note_preempt_depth(int depth)
    {
        ref int max = ref get_cpu_var(max_preempt); // expect: KH2001 (the -EINVAL return skips put_cpu_var)
        if (depth > 255)
            return -EINVAL;
        if (depth > max)
            max = depth;
        put_cpu_var(max_preempt);
        return 0;
    }

    public int max_depth_here()
    {
        ref int max = ref get_cpu_var(max_preempt);
        int v = max;
        put_cpu_var(max_preempt); // ok: KH2001 (undoes the get_cpu_var above)
        return v;
    }

    // Adds to this CPU's counter, folding it into the global total once a batch is complete.
    public void add_hits(ulong n)
    {
        int cpu = get_cpu();
        per_cpu(irq_hits, cpu) += n;
        if (per_cpu(irq_hits, cpu) >= fold_batch)
        {
            ulong v = per_cpu(irq_hits, cpu);
            per_cpu(irq_hits, cpu) = 0;
            put_cpu();
            fold_total(v);
        }
        put_cpu(); // expect: KH2001 (on the fold path put_cpu already ran: nothing is left to undo)
    }

    private void fold_total(ulong v)
    {
        spin_lock_irqsave(sum_lock, out ulong fl);
        total_hits += v;
        last_fold = jiffies;
        spin_unlock_irqrestore(sum_lock, fl); // ok: KH2004 (irqsave paired with irqrestore)
    }

    public void sample_this_cpu()
    {
        int cpu = get_cpu(); // ok: KH2001 (finish_sample's summary releases with put_cpu)
        ulong h = per_cpu(irq_hits, cpu);
        finish_sample(h);
    }

    private void finish_sample(ulong h)
    {
        if (h > fold_batch)
            this_cpu_write(irq_hits, 0UL);
        put_cpu();
    }

    public ulong sum_recent(int rounds)
    {
        ulong sum = 0;
        for (int i = 0; i < rounds; i++)
        {
            int cpu = get_cpu(); // ok: KH2001 (balanced inside every iteration)
            sum += per_cpu(irq_hits, cpu);
            put_cpu();
        }
        return sum;
    }

    // Waits for the interrupt nesting of this CPU to drain before a reset.
    public void settle_cpu()
    {
        int cpu = get_cpu();
        while (per_cpu(irq_nesting, cpu) > 0)
            msleep(1); // expect: KH1001 (msleep with preemption disabled by get_cpu)
        put_cpu();
    }

    public void note_nmi() => this_cpu_inc(irq_nesting); // ok: KH2001 (this_cpu_* operations are preempt-safe by themselves; nothing to balance)

    // Starts a preempt-off latency section on this CPU when tracing is on.
    public void latency_start(bool tracing_on)
    {
        preempt_disable(); // expect: KH2001 (the early return when tracing is off leaves preemption disabled)
        if (!tracing_on)
            return;
        this_cpu_write(irq_nesting, 0L);
        preempt_enable();
    }

    public int snapshot_remote(int target)
    {
        int cpu = get_cpu();
        kptr snap = kzalloc(SAMPLE_SIZE, GFP_KERNEL); // expect: KH1002 (GFP_KERNEL with preemption disabled by get_cpu)
        if (snap == NULL)
        {
            put_cpu();
            return -ENOMEM;
        }
        ptr_ref<ulong>(snap) = per_cpu(irq_hits, target);
        put_cpu();
        pr_info($"cpu{target}: {ptr_ref<ulong>(snap)} irqs (read on cpu{cpu})");
        kfree(snap);
        return 0;
    }

    // Sets up the sample ring; only as many slots as there are CPUs.
    public int ring_init(int slots)
    {
        kptr ring = kcalloc((ulong)slots, SAMPLE_SIZE, GFP_KERNEL);
        if (ring == NULL)
            return -ENOMEM; // ok: KH3004 (ring is NULL on this path)
        if (slots > nr_cpu_ids)
            return -EINVAL; // expect: KH3004 (ring is neither freed nor stored when there are too many slots)
        sample_ring = ring;
        return 0;
    }

    public void sample_nested()
    {
        local_irq_save(out ulong outer); // ok: KH2002 (properly nested: the inner save is restored first)
        this_cpu_inc(irq_nesting);
        local_irq_save(out ulong inner);
        this_cpu_add(softirq_runs, 1UL);
        local_irq_restore(inner);
        this_cpu_dec(irq_nesting);
        local_irq_restore(outer);
    }

    public void sample_crossed()
    {
        local_irq_save(out ulong a);
        this_cpu_inc(irq_nesting);
        local_irq_save(out ulong b);
        this_cpu_add(softirq_runs, 1UL);
        local_irq_restore(a); // expect: KH2002 (saves and restores crossed: the outer flags are restored while the inner save is live)
        this_cpu_dec(irq_nesting);
        local_irq_restore(b);
    }

    public void fold_all()
    {
        local_irq_save(out ulong flags);
        ulong sum = 0;
        for (int cpu = 0; cpu < nr_cpu_ids; cpu++)
            sum += per_cpu(irq_hits, cpu);
        local_irq_save(out flags);
        total_hits = sum;
        local_irq_restore(flags);
        local_irq_restore(flags); // expect: KH2002 (the outer save's flags were overwritten by the inner save: not the matching flags)
    }

    public void drain_nesting()
    {
        local_irq_save(out ulong flags);
        long depth = this_cpu_read(irq_nesting);
        this_cpu_write(irq_nesting, 0L);
        local_irq_enable(); // expect: KH2002 (local_irq_enable inside a local_irq_save region ignores the saved state)
        if (depth > 0)
            pr_warn($"irq nesting was {depth} on drain");
        local_irq_restore(flags);
    }

    public int fold_cpu(int cpu)
    {
        local_irq_save(out ulong flags); // expect: KH2002 (the -EINVAL return leaves interrupts disabled)
        if (cpu < 0 || cpu >= nr_cpu_ids)
            return -EINVAL;
        total_hits += per_cpu(irq_hits, cpu);
        per_cpu(irq_hits, cpu) = 0;
        local_irq_restore(flags);
        return 0;
    }

    public void hard_reset(bool already_clear)
    {
        local_irq_disable(); // expect: KH2002 (the early return when already_clear leaves interrupts disabled)
        if (already_clear)
            return;
        this_cpu_write(irq_hits, 0UL);
        this_cpu_write(softirq_runs, 0UL);
        local_irq_enable();
    }

    public void reset_counters()
    {
        local_irq_disable();
        this_cpu_write(irq_hits, 0UL);
        this_cpu_write(softirq_runs, 0UL);
        mdelay(1); // ok: KH1001 (mdelay busy-waits; allowed with interrupts off)
        local_irq_enable(); // ok: KH2002 (pairs the local_irq_disable above; no local_irq_save region is open)
    }

    public void quiesce_and_fold()
    {
        local_irq_save(out stop_flags); // ok: KH2002 (flags kept in a field and restored by quiesce_exit, whose summary restores)
        total_hits += this_cpu_read(irq_hits);
        this_cpu_write(irq_hits, 0UL);
        quiesce_exit();
    }

    private void quiesce_exit() => local_irq_restore(stop_flags);

    public void fold_locked()
    {
        local_irq_save(out ulong flags);
        spin_lock(sum_lock);
        total_hits += this_cpu_read(irq_hits);
        spin_unlock(sum_lock); // ok: KH2004 (taken with plain spin_lock inside the local_irq_save region; the irq state is restored separately)
        local_irq_restore(flags); // ok: KH2002 (restores its own save after the lock is released)
    }

    public ulong read_all_hits()
    {
        local_irq_save(out ulong flags);
        try
        {
            ulong sum = 0;
            for (int cpu = 0; cpu < nr_cpu_ids; cpu++)
                sum += per_cpu(irq_hits, cpu);
            return sum;
        }
        finally
        {
            local_irq_restore(flags); // ok: KH2002 (the finally restores on the only exit)
        }
    }

    private void acct_tasklet_fn(tasklet_struct t)
    {
        this_cpu_inc(softirq_runs);
        if (in_task())
            last_owner_pid = current.pid; // ok: KH4003 (guarded by in_task())
        current.se.sum_exec_runtime += 1000; // expect: KH4003 (a tasklet runs in softirq context: this charges the interrupted task)
        if (retired_trace != NULL)
        {
            vfree(retired_trace); // ok: KH1001 (vfree in softirq context defers the free; it does not sleep there)
            retired_trace = NULL;
        }
    }

    public int trace_resize(ulong size)
    {
        kptr nt = vmalloc(size);
        if (nt == NULL)
            return -ENOMEM;
        retired_trace = trace;
        trace = nt;
        tasklet_schedule(acct_tasklet);
        return 0;
    }

    private void tick_fn(timer_list t)
    {
        ulong now = jiffies;
        if (last_fold + 2 * HZ < now) // expect: KH5001 (raw < between a time derived from last_fold and jiffies)
            stale_folds++;
        if (now - last_fold > 10 * HZ) // ok: KH5001 (difference of two times compared with a duration)
            pr_warn("cpu acct: counters not folded for 10 s");
        last_owner_pid = in_task() ? current.pid : -1; // ok: KH4003 (the true arm of in_task() ? : is guarded)
        int cpu = get_cpu();
        per_cpu(softirq_runs, cpu)++;
        put_cpu(); // ok: KH2001 (pairs the get_cpu just above)
        mod_timer(t, now + HZ);
    }
}
