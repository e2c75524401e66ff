// The per-CPU object layer of a student's ISlab: magazines of cached objects per CPU in front of a backing
// cache, a depot refilled under a spinlock. Holds get_cpu/local_irq_save imbalances and GFP mistakes in refills.
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.R6OPcpuMagazine;

public sealed class CpuMagazines
{
    private const int MAG_SIZE = 16;
    private const int DEPOT_MAX = 128;

    private sealed class cpu_mag { public readonly kptr[] objs = new kptr[MAG_SIZE]; public int rounds; public ulong irq_flags; }

    private struct rebalance_record { public int cpus; public int objects; public ulong when; }

    private readonly spinlock_t depot_lock = new();
    private readonly mutex target_lock = new();
    private readonly kmem_cache objcache;
    private readonly kmem_cache recordcache;
    private readonly cpu_mag[] mags;
    private readonly kptr[] depot = new kptr[DEPOT_MAX];
    private int depot_nr;
    private int mag_target = MAG_SIZE;
    private readonly timer_list refill_timer = new();
    private readonly work_struct rebalance_work = new();
    private readonly tasklet_struct balance_tasklet = new();
    private static readonly percpu<long> fast_hits = DEFINE_PER_CPU<long>();
    private static readonly percpu<long> slow_hits = DEFINE_PER_CPU<long>();

    public CpuMagazines(kmem_cache objs, kmem_cache records)
    {
        objcache = objs;
        recordcache = records;
        mags = new cpu_mag[nr_cpu_ids];
        for (int cpu = 0; cpu < nr_cpu_ids; cpu++)
            mags[cpu] = new cpu_mag();
        timer_setup(refill_timer, refill_timer_fn, 0);
        INIT_WORK(rebalance_work, rebalance_work_fn);
        tasklet_setup(balance_tasklet, balance_tasklet_fn);
        mod_timer(refill_timer, jiffies + HZ);
    }

    // Fast path: pop from this CPU's magazine with interrupts off, else go to the depot.
    public kptr mag_alloc(gfp_t gfp)
    {
        local_irq_save(out ulong flags);
        cpu_mag m = mags[smp_processor_id()];
        if (m.rounds > 0)
        {
            kptr obj = m.objs[--m.rounds];
            local_irq_restore(flags); // ok: KH2002 the early exit restores its own save before returning
            this_cpu_inc(fast_hits);
            return obj;
        }
        local_irq_restore(flags);
        return mag_alloc_slow(gfp);
    }

    private kptr mag_alloc_slow(gfp_t gfp)
    {
        cpu_mag m = mags[get_cpu()];
        spin_lock_irqsave(depot_lock, out ulong flags);
        while (depot_nr > 0 && m.rounds < mag_target / 2)
            m.objs[m.rounds++] = depot[--depot_nr];
        spin_unlock_irqrestore(depot_lock, flags);
        if (m.rounds == 0)
        {
            put_cpu(); // ok: KH2001 each branch undoes the get_cpu exactly once
            return kmem_cache_alloc(objcache, gfp); // ok: KH1002 the caller's gfp parameter, passed through after preemption is back on
        }
        kptr obj = m.objs[--m.rounds];
        put_cpu();
        this_cpu_inc(slow_hits);
        return obj;
    }

    // Pushes obj on this CPU's magazine: 0, or -ENOSPC when it is full and the caller must use the depot.
    public int mag_push(kptr obj)
    {
        int cpu = get_cpu(); // expect: KH2001 (the early return -ENOSPC leaves preemption disabled)
        if (mags[cpu].rounds == MAG_SIZE)
            return -ENOSPC;
        mags[cpu].objs[mags[cpu].rounds++] = obj;
        put_cpu();
        return 0;
    }

    public void mag_free(kptr obj)
    {
        int cpu = get_cpu();
        cpu_mag m = mags[cpu];
        local_irq_save(out m.irq_flags); // ok: KH2002 flags kept in the per-CPU struct's field; unpin_local() restores them on both paths
        if (m.rounds < MAG_SIZE)
        {
            m.objs[m.rounds++] = obj;
            unpin_local(m);
            put_cpu();
            return;
        }
        unpin_local(m);
        put_cpu();
        free_to_depot(obj);
    }

    private static void unpin_local(cpu_mag m) => local_irq_restore(m.irq_flags); // ok: KH2002 restores the flags the caller saved in m.irq_flags (summary: restores)

    private void free_to_depot(kptr obj)
    {
        spin_lock_irqsave(depot_lock, out ulong flags);
        bool queued = depot_nr < DEPOT_MAX;
        if (queued)
            depot[depot_nr++] = obj;
        spin_unlock_irqrestore(depot_lock, flags);
        if (queued)
            return;
        tasklet_schedule(balance_tasklet);
        kmem_cache_free(objcache, obj);
    }

    public void mag_free_bulk(kptr[] objs, int n)
    {
        for (int i = 0; i < n; i++)
        {
            cpu_mag m = mags[get_cpu()]; // ok: KH2001 every iteration puts the CPU back, the continue path included
            if (m.rounds < MAG_SIZE)
            {
                m.objs[m.rounds++] = objs[i];
                put_cpu();
                continue;
            }
            put_cpu();
            free_to_depot(objs[i]);
        }
    }

    // Called with depot_lock held.
    private int move_to_depot_locked(cpu_mag m)
    {
        int n = 0;
        for (; m.rounds > 0 && depot_nr < DEPOT_MAX; n++)
            depot[depot_nr++] = m.objs[--m.rounds];
        return n;
    }

    // Returns one CPU's rounds to the depot; with self, the local CPU is pinned while it is drained.
    public int drain_cpu(int target, bool self)
    {
        int cpu = target;
        if (self)
            cpu = get_cpu();
        spin_lock_irqsave(depot_lock, out ulong flags);
        int n = move_to_depot_locked(mags[cpu]);
        spin_unlock_irqrestore(depot_lock, flags);
        put_cpu(); // expect: KH2001 (when self is false no get_cpu was taken on this path: nothing to undo)
        return n;
    }

    public int mag_drain_local()
    {
        local_irq_save(out ulong cpu_flags);
        cpu_mag m = mags[smp_processor_id()];
        local_irq_save(out ulong depot_flags);
        spin_lock(depot_lock);
        int moved = move_to_depot_locked(m);
        spin_unlock(depot_lock);
        local_irq_restore(cpu_flags); // expect: KH2002 (restores the outer save while the inner save is still open: crossed)
        local_irq_restore(depot_flags);
        return moved;
    }

    public int mag_fill_local()
    {
        local_irq_save(out ulong cpu_flags);
        cpu_mag m = mags[smp_processor_id()];
        local_irq_save(out ulong depot_flags);
        spin_lock(depot_lock);
        int moved = 0;
        for (; depot_nr > 0 && m.rounds < MAG_SIZE; moved++)
            m.objs[m.rounds++] = depot[--depot_nr];
        spin_unlock(depot_lock);
        local_irq_restore(depot_flags); // ok: KH2002 inner save restored first: properly nested
        local_irq_restore(cpu_flags);
        return moved;
    }

    public kptr mag_peek_local()
    {
        local_irq_save(out ulong flags); // expect: KH2002 (the early return when the magazine is empty leaves interrupts disabled)
        cpu_mag m = mags[smp_processor_id()];
        if (m.rounds == 0)
            return NULL;
        kptr top = m.objs[m.rounds - 1];
        local_irq_restore(flags);
        return top;
    }

    // Objects cached on a CPU; quiesce keeps interrupts off while the count is read.
    public int mag_count(int cpu, bool quiesce)
    {
        ulong flags = 0;
        if (quiesce)
            local_irq_save(out flags);
        int n = mags[cpu].rounds;
        local_irq_restore(flags); // expect: KH2002 (on the quiesce == false path the flags are the initial 0, not from a save)
        return n;
    }

    public long local_rounds()
    {
        int cpu = get_cpu(); // ok: KH2001 the finally block runs put_cpu on both returns
        try
        {
            if (mags[cpu].rounds == 0)
                return 0;
            return mags[cpu].rounds;
        }
        finally
        {
            put_cpu();
        }
    }

    public void count_slow_refill()
    {
        ref long hits = ref get_cpu_var(slow_hits); // ok: KH2001 paired with put_cpu_var below on the only path
        hits++;
        put_cpu_var(slow_hits);
    }

    // Fills this CPU's magazine up to 'want' objects without sleeping: preemption stays off throughout.
    public int prefill_local(int want)
    {
        int err = 0;
        cpu_mag m = mags[get_cpu()]; // ok: KH2001 both exits leave through the shared out_put label
        while (m.rounds < want && m.rounds < MAG_SIZE)
        {
            kptr obj = kmem_cache_alloc(objcache, GFP_NOWAIT); // ok: KH1002 GFP_NOWAIT never blocks, fine with preemption disabled
            if (obj == NULL)
            {
                err = -ENOMEM;
                goto out_put;
            }
            m.objs[m.rounds++] = obj;
        }
    out_put:
        put_cpu();
        return err;
    }

    // Refills the depot with up to count objects allocated with the caller's flags, outside the lock.
    private int refill_depot(int count, gfp_t gfp)
    {
        kptr[] batch = new kptr[count];
        int got = 0;
        for (; got < count; got++)
        {
            batch[got] = kmem_cache_alloc(objcache, gfp); // ok: KH1002 gfp is this helper's parameter; its callers are checked
            if (batch[got] == NULL)
                break;
        }
        spin_lock_irqsave(depot_lock, out ulong flags);
        int i = 0;
        while (i < got && depot_nr < DEPOT_MAX)
            depot[depot_nr++] = batch[i++];
        spin_unlock_irqrestore(depot_lock, flags);
        for (; i < got; i++)
            kmem_cache_free(objcache, batch[i]);
        return got;
    }

    private void set_target(int target)
    {
        mutex_lock(target_lock);
        mag_target = target;
        mutex_unlock(target_lock);
    }

    public void resize(int target)
    {
        set_target(target); // ok: KH1001 public entry called in process context with nothing held
        schedule_work(rebalance_work);
    }

    // Timer (softirq): keeps the depot from running dry.
    private void refill_timer_fn(timer_list t)
    {
        spin_lock_irqsave(depot_lock, out ulong flags);
        bool low = depot_nr < DEPOT_MAX / 4;
        spin_unlock_irqrestore(depot_lock, flags);
        if (low)
            refill_depot(8, GFP_KERNEL); // expect: KH1002 (GFP_KERNEL handed to refill_depot, which allocates with it, from a timer (softirq) callback)
        mod_timer(refill_timer, jiffies + HZ);
    }

    // Tasklet (softirq): spills an overfull depot back to the cache, tops up an empty one.
    private void balance_tasklet_fn(tasklet_struct t)
    {
        spin_lock_irqsave(depot_lock, out ulong flags);
        int excess = depot_nr - DEPOT_MAX * 3 / 4;
        kptr[] spill = new kptr[excess > 0 ? excess : 0];
        for (int i = 0; i < spill.Length; i++)
            spill[i] = depot[--depot_nr];
        bool empty = depot_nr == 0;
        spin_unlock_irqrestore(depot_lock, flags);
        foreach (kptr obj in spill)
            kmem_cache_free(objcache, obj);
        if (empty)
            refill_depot(2, GFP_NOWAIT); // ok: KH1002 GFP_NOWAIT cannot block, fine in softirq context
        if (spill.Length > 0)
            set_target(MAG_SIZE / 2); // expect: KH1001 (set_target takes a mutex; called from a tasklet (softirq))
    }

    // Work item (process context): empties every CPU's magazine into the depot, then refills the depot to half.
    private void rebalance_work_fn(work_struct w)
    {
        kptr counts = kmalloc_array((ulong)nr_cpu_ids, 4, GFP_ATOMIC); // expect: KH1003 (work item: process context, nothing held; GFP_KERNEL is right)
        if (counts == NULL)
            return;
        kptr rec = kmem_cache_alloc(recordcache, GFP_KERNEL);
        if (rec == NULL)
        {
            kfree(counts); // ok: KH3001 kfree of kmalloc_array memory
            return;
        }
        int total = 0;
        for (int cpu = 0; cpu < nr_cpu_ids; cpu++)
        {
            spin_lock_irqsave(depot_lock, out ulong flags);
            int n = move_to_depot_locked(mags[cpu]);
            spin_unlock_irqrestore(depot_lock, flags);
            ptr_ref<int>(counts + (ulong)cpu * 4) = n;
            total += n;
        }
        ptr_ref<rebalance_record>(rec) = new rebalance_record { cpus = nr_cpu_ids, objects = total, when = jiffies };
        pr_info($"magazines: flushed {total} objects from {nr_cpu_ids} cpus");
        refill_depot(DEPOT_MAX / 2, GFP_KERNEL); // ok: KH1002 work item: process context with nothing held
        kfree(counts);
        kmem_cache_free(objcache, rec); // expect: KH3001 (rec came from recordcache and is freed into objcache)
    }

    public void stop()
    {
        del_timer_sync(refill_timer);
        cancel_work_sync(rebalance_work);
        tasklet_kill(balance_tasklet);
        while (depot_nr > 0)
            kmem_cache_free(objcache, depot[--depot_nr]);
    }
}
