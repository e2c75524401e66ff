// DMA transmit ring with per-CPU statistics, a refill kthread and a decay timer. Mistakes: get_cpu/get_cpu_var/preempt_disable not undone,
// a second put_cpu, sleeping or GFP_KERNEL with preemption off, vfree under a spinlock, invalid zone combinations, GFP_ATOMIC in the kthread.
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.DmaRingStats;

public struct ring_stats {
    public long tx, bytes, drops, errors;
}

public sealed class DmaRing {
    private const int RING = 64;
    private const int BUF_ORDER = 1;
    private const int NR_CPUS = 4;

    private static readonly percpu<ring_stats> stats = DEFINE_PER_CPU<ring_stats>();
    private static readonly percpu<long> doorbells = DEFINE_PER_CPU<long>();

    private readonly spinlock_t ring_lock = new();
    private readonly timer_list decay_timer = new();
    private readonly page?[] bufs = new page?[RING];
    private readonly kptr[] descs = new kptr[RING];
    private kmem_cache? desc_cache;
    private task_struct? refill_task;
    private kptr retired_map = NULL;
    private ulong hw_irq_flags;
    private int prod, cons, free_slots = RING;
    private int doorbell_reg;
    private bool link_up = true;

    public int probe() {
        desc_cache = kmem_cache_create("dmaring_desc", 32, 32, SLAB_HWCACHE_ALIGN, null);
        if (desc_cache is null)
            return -ENOMEM;
        for (int i = 0; i < RING / 2; i++) {
            bufs[i] = alloc_pages(GFP_KERNEL | __GFP_DMA32, BUF_ORDER); // ok: a single zone modifier through the page allocator
            if (bufs[i] is null) {
                free_bufs();
                kmem_cache_destroy(desc_cache);
                desc_cache = null;
                return -ENOMEM;
            }
        }
        timer_setup(decay_timer, decay_fn, 0);
        mod_timer(decay_timer, jiffies + 10 * HZ);
        refill_task = kthread_run(refill_thread, this, "dmaring-refill");
        return 0;
    }

    public int xmit(kptr data, ulong len) {
        int cpu = get_cpu(); // expect: KH2001 (get_cpu not undone on the -ENOMEM return)
        var desc = kmem_cache_alloc(desc_cache!, GFP_ATOMIC); // ok: GFP_ATOMIC with preemption disabled
        if (desc == NULL)
            return -ENOMEM;
        per_cpu(stats, cpu).tx++;
        per_cpu(stats, cpu).bytes += (long)len;
        put_cpu();
        post(desc, data);
        return 0;
    }

    public int xmit_checked(kptr data, ulong len) {
        int err = 0;
        int cpu = get_cpu(); // ok: both exits go through the out label and its put_cpu
        var desc = kmem_cache_alloc(desc_cache!, GFP_ATOMIC);
        if (desc == NULL) {
            per_cpu(stats, cpu).drops++;
            err = -ENOMEM;
            goto out_put;
        }
        per_cpu(stats, cpu).tx++;
        per_cpu(stats, cpu).bytes += (long)len;
        post(desc, data);
    out_put:
        put_cpu();
        return err;
    }

    private void post(kptr desc, kptr data) {
        spin_lock_irqsave(ring_lock, out var flags);
        if (free_slots == 0) {
            spin_unlock_irqrestore(ring_lock, flags);
            kmem_cache_free(desc_cache!, desc);
            return;
        }
        ptr_ref<ulong>(desc) = data.addr;
        descs[prod] = desc;
        prod = (prod + 1) % RING;
        free_slots--;
        spin_unlock_irqrestore(ring_lock, flags);
        ring_doorbell();
    }

    private void ring_doorbell() {
        local_irq_save(out hw_irq_flags); // ok: restored by doorbell_done(), whose summary restores the flags kept in the field
        doorbell_reg = prod;
        this_cpu_inc(doorbells);
        doorbell_done();
    }

    private void doorbell_done() {
        udelay(1); // ok: busy wait with interrupts off
        local_irq_restore(hw_irq_flags); // ok: restores the flags ring_doorbell() saved in the field
    }

    private bool reap_one() {
        spin_lock_irqsave(ring_lock, out var flags);
        if (free_slots == RING) {
            spin_unlock_irqrestore(ring_lock, flags);
            return false;
        }
        var desc = descs[cons];
        descs[cons] = NULL;
        cons = (cons + 1) % RING;
        free_slots++;
        spin_unlock_irqrestore(ring_lock, flags);
        kmem_cache_free(desc_cache!, desc);
        return true;
    }

    public void account_drops(int n) {
        int cpu = get_cpu();
        ref var st = ref per_cpu(stats, cpu);
        st.drops += n;
        if (st.drops > 1_000_000) {
            st.drops = 0;
            put_cpu();
            pr_warn("dmaring: drop counter wrapped\n");
        }
        put_cpu(); // expect: KH2001 (on the wrap path put_cpu was already called: nothing left to undo)
    }

    public int prefill_local(int rounds) {
        int filled = 0;
        for (int r = 0; r < rounds; r++) {
            int cpu = get_cpu(); // expect: KH2001 (the continue path skips put_cpu, still disabled when the loop exits)
            if (!link_up)
                continue;
            per_cpu(stats, cpu).tx++;
            filled++;
            put_cpu();
        }
        return filled;
    }

    public long local_total(int rounds) {
        long total = 0;
        for (int r = 0; r < rounds; r++) {
            int cpu = get_cpu(); // ok: put_cpu on both paths of every iteration
            if (!link_up) {
                put_cpu();
                continue;
            }
            total += per_cpu(stats, cpu).tx;
            put_cpu();
        }
        return total;
    }

    public long sample_rate() {
        ref var st = ref get_cpu_var(stats); // ok: put_cpu_var on the only path
        long before = st.tx;
        msleep(100); // expect: KH1001 (msleep with preemption disabled by get_cpu_var)
        long after = st.tx;
        put_cpu_var(stats);
        return after - before;
    }

    public int note_error(int code) {
        ref var st = ref get_cpu_var(stats); // expect: KH2001 (put_cpu_var skipped on the code == 0 return)
        if (code == 0)
            return 0;
        st.errors++;
        put_cpu_var(stats);
        return code;
    }

    public int snapshot_local(out kptr snap) {
        snap = NULL;
        int cpu = get_cpu();
        var buf = kzalloc(64, GFP_KERNEL); // expect: KH1002 (GFP_KERNEL with preemption disabled by get_cpu)
        if (buf != NULL)
            ptr_ref<ring_stats>(buf) = per_cpu(stats, cpu);
        put_cpu();
        if (buf == NULL)
            return -ENOMEM;
        snap = buf;
        return 0;
    }

    private void end_stats_update(int cpu) {
        per_cpu(stats, cpu).tx++;
        put_cpu(); // ok: a helper whose summary releases the caller's get_cpu
    }

    public void count_tx_local(ulong len) {
        int cpu = get_cpu(); // ok: undone by end_stats_update(), whose summary calls put_cpu
        per_cpu(stats, cpu).bytes += (long)len;
        end_stats_update(cpu);
    }

    public int poll_completions(int budget) {
        int done = 0;
        preempt_disable(); // expect: KH2001 (preemption stays disabled on the -EIO return)
        while (done < budget) {
            if (!link_up)
                return -EIO;
            if (!reap_one())
                break;
            done++;
        }
        preempt_enable();
        return done;
    }

    public int poll_completions_safe(int budget) {
        int done = 0;
        preempt_disable(); // ok: the finally block re-enables preemption on every exit
        try {
            while (done < budget) {
                if (!link_up)
                    return -EIO;
                if (!reap_one())
                    break;
                done++;
            }
        } finally {
            preempt_enable();
        }
        return done;
    }

    public void flush_doorbells() {
        for (int i = 0; i < 4; i++) {
            local_irq_save(out var flags); // ok: restored in every iteration
            doorbell_reg = i;
            cpu_relax(); // ok: busy wait with interrupts off
            local_irq_restore(flags);
        }
    }

    public int remap_ring() {
        var map = vzalloc(RING * 8); // ok: process context, nothing held
        if (map == NULL)
            return -ENOMEM;
        spin_lock_irqsave(ring_lock, out var flags);
        var old = retired_map;
        retired_map = map;
        vfree(old); // expect: KH1001 (vfree may sleep outside interrupt context; ring_lock is held)
        spin_unlock_irqrestore(ring_lock, flags);
        return 0;
    }

    // Module self-test of the auxiliary allocations (process context, nothing held).
    public int selftest_aux_pages() {
        var hi = alloc_pages(GFP_HIGHUSER, 0); // ok: highmem through the page allocator is valid
        if (hi is null)
            return -ENOMEM;
        var bounce = alloc_pages(GFP_KERNEL | __GFP_DMA | __GFP_HIGHMEM, 0); // expect: KH1004 (two zone modifiers: __GFP_DMA with __GFP_HIGHMEM)
        if (bounce is null) {
            __free_pages(hi, 0);
            return -ENOMEM;
        }
        var d = kmem_cache_alloc(desc_cache!, GFP_KERNEL | __GFP_HIGHMEM); // expect: KH1004 (__GFP_HIGHMEM passed to a slab cache)
        var tbl = kzalloc(RING * 8, GFP_KERNEL | __GFP_DMA32); // expect: KH1004 (__GFP_DMA32 passed to kmalloc: GFP_SLAB_BUG_MASK)
        var must = kmalloc(64, GFP_KERNEL | __GFP_NOFAIL); // ok: __GFP_NOFAIL with a blocking GFP_KERNEL is valid
        kfree(must);
        kfree(tbl);
        if (d != NULL)
            kmem_cache_free(desc_cache!, d);
        __free_pages(bounce, 0);
        __free_pages(hi, 0);
        return 0;
    }

    // Kernel thread: process context.
    private int refill_thread(object? data) {
        while (!kthread_should_stop()) {
            var scratch = kmalloc(256, GFP_ATOMIC); // expect: KH1003 (kernel thread with nothing held)
            if (scratch != NULL)
                memset(scratch, 0, 256);
            kfree(scratch);
            refill_slots();
            int cpu = get_cpu(); // ok: put_cpu on the single path, before the thread sleeps
            var d = kmem_cache_alloc(desc_cache!, GFP_ATOMIC); // ok: preemption disabled by get_cpu
            if (d == NULL)
                per_cpu(stats, cpu).drops++;
            put_cpu();
            if (d != NULL)
                kmem_cache_free(desc_cache!, d);
            msleep(10); // ok: kernel thread, nothing held
        }
        return 0;
    }

    private void refill_slots() {
        for (int i = 0; i < RING; i++) {
            var pg = alloc_pages(GFP_ATOMIC | __GFP_DMA32, BUF_ORDER); // expect: KH1003 (private helper reached only from the refill thread, nothing held)
            if (pg is null)
                break;
            spin_lock_irqsave(ring_lock, out var flags);
            bool empty = bufs[i] is null;
            if (empty)
                bufs[i] = pg;
            spin_unlock_irqrestore(ring_lock, flags);
            if (!empty)
                __free_pages(pg, BUF_ORDER);
        }
    }

    // Timer callback: softirq context.
    private void decay_fn(timer_list t) {
        for (int cpu = 0; cpu < NR_CPUS; cpu++)
            per_cpu(stats, cpu).drops /= 2;
        var old = retired_map;
        retired_map = NULL;
        vfree(old); // ok: in softirq context Linux defers the free, vfree does not sleep here
        mod_timer(decay_timer, jiffies + 10 * HZ);
    }

    private void free_bufs() {
        for (int i = 0; i < RING; i++) {
            if (bufs[i] is not null)
                __free_pages(bufs[i]!, BUF_ORDER);
            bufs[i] = null;
        }
    }

    public void remove() {
        spin_lock_irqsave(ring_lock, out var flags);
        link_up = false;
        var t = refill_task;
        refill_task = null;
        spin_unlock_irqrestore(ring_lock, flags);
        if (t is not null)
            kthread_stop(t); // ok: called after ring_lock was dropped
        del_timer_sync(decay_timer);
        while (reap_one())
            cond_resched();
        free_bufs();
        vfree(retired_map);
        retired_map = NULL;
        kmem_cache_destroy(desc_cache);
        desc_cache = null;
    }
}
