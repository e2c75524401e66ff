// Preemption and interrupt-state bugs.
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.CpuState;

public sealed class Counters
{
    private static readonly percpu<long> hits = DEFINE_PER_CPU<long>();
    private readonly spinlock_t lock_a = new();
    private ulong saved;
    private kptr cache = NULL;
    private int n;

    public int hit()
    {
        int cpu = get_cpu(); // expect: KH2001
        cache = kmalloc(64, GFP_ATOMIC);
        if (cache == NULL)
            return -ENOMEM;
        per_cpu(hits, cpu)++;
        put_cpu();
        return 0;
    }

    public void slow_hit()
    {
        get_cpu();
        msleep(1); // expect: KH1001
        put_cpu();
    }

    public void unpin(bool pinned)
    {
        if (pinned)
            preempt_disable();
        n++;
        preempt_enable(); // expect: KH2001
    }

    public void crossed()
    {
        local_irq_save(out var a);
        local_irq_save(out var b);
        local_irq_restore(a); // expect: KH2002
        local_irq_restore(b);
    }

    public void enable_inside()
    {
        local_irq_save(out var flags);
        local_irq_enable(); // expect: KH2002
        local_irq_restore(flags);
    }

    public int leave_disabled()
    {
        local_irq_disable(); // expect: KH2002
        if (n > 3)
            return -EBUSY;
        local_irq_enable();
        return 0;
    }

    public void alloc_irqs_off()
    {
        local_irq_save(out saved);
        cache = kmalloc(32, GFP_KERNEL | __GFP_ZERO); // expect: KH1002
        local_irq_restore(saved);
    }

    public void bad_zone()
    {
        cache = kmalloc(64, GFP_KERNEL | __GFP_HIGHMEM); // expect: KH1004
        var p = alloc_pages(__GFP_DMA | __GFP_DMA32, 0); // expect: KH1004
        cache = kzalloc(64, GFP_ATOMIC | __GFP_NOFAIL); // expect: KH1004
    }

    public void rcu_sleep()
    {
        rcu_read_lock();
        synchronize_rcu(); // expect: KH1001
        rcu_read_unlock();
    }

    public void ok_paths()
    {
        spin_lock(lock_a);
        n++;
        spin_unlock(lock_a);
        msleep(1);
        mdelay(1);
    }
}
