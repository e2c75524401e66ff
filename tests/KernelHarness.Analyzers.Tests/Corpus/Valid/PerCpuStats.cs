// Per-CPU statistics with preemption and interrupt control done right, including goto-style exits
// and helpers that take and release on the caller's behalf.
using KernelHarness;
using KernelHarness.Annotations;
using static KernelHarness.Kernel;

namespace Corpus.Valid.Stats;

public sealed class Stats
{
    private static readonly percpu<long> events = DEFINE_PER_CPU<long>();
    private readonly spinlock_t agg_lock = new();
    private ulong irq_flags;
    private long total;

    public int record(long n)
    {
        int err = 0;
        int cpu = get_cpu();
        var scratch = kmalloc(64, GFP_ATOMIC);
        if (scratch == NULL)
        {
            err = -ENOMEM;
            goto out_put;
        }
        per_cpu(events, cpu) += n;
        kfree(scratch);
    out_put:
        put_cpu();
        return err;
    }

    private void irq_off() { local_irq_save(out irq_flags); }
    private void irq_on() { local_irq_restore(irq_flags); }

    public void fold()
    {
        irq_off();
        get_cpu_var(events) = 0;
        put_cpu_var(events);
        irq_on();
    }

    public long sum()
    {
        long s = 0;
        rcu_read_lock();
        for (int cpu = 0; cpu < 4; cpu++)
            s += per_cpu(events, cpu);
        rcu_read_unlock();
        spin_lock_bh(agg_lock);
        total = s;
        spin_unlock_bh(agg_lock);
        return s;
    }

    [EntersContext(LockKind.Preempt)]
    private static void pin() => preempt_disable();

    public void bump()
    {
        pin();
        this_cpu_inc(events);
        preempt_enable();
    }

    public void nested()
    {
        local_irq_save(out var outer);
        local_irq_save(out var inner);
        total++;
        local_irq_restore(inner);
        local_irq_restore(outer);
    }
}
