// BufPool: a DMA buffer pool with its own slab cache, page-backed ring, per-CPU stats, a reclaim tasklet and a threaded IRQ.
// Precision test: mostly correct-but-suspicious code (ok:); real bugs KH2004, KH3002, KH5002, KH9001.
using System;
using System.Collections.Generic;
using System.Text;
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.BufPoolPrecision;

public struct buf_desc { public uint id; public uint len; public ulong stamp; }

public sealed class BufPool
{
    private const int RING_ORDER = 2;
    private const ulong DESC_SIZE = 32;
    private const ulong TABLE_BYTES = 8 * PAGE_SIZE;
    private const ulong LOG_BYTES = 16 * PAGE_SIZE;
    private const int MAX_DESCS = 256;

    private kmem_cache? desc_cache;
    private readonly spinlock_t pool_lock = new();
    private readonly wait_queue_head_t space_wq = new();
    private readonly tasklet_struct reclaim = new();
    private readonly work_struct audit_work = new();
    private readonly List<kptr> free_descs = new();                       // ok: List<T> is allowlisted
    private readonly List<kptr> inflight = new();
    private static readonly percpu<long> allocs = DEFINE_PER_CPU<long>();
    private static readonly percpu<long> drops = DEFINE_PER_CPU<long>();

    private ulong ring_addr;
    private page? lut_page;
    private kptr table = NULL, scratch = NULL, log_buf = NULL;
    private uint[]? published;
    private ulong saved_irq;
    private uint irq, doorbell;
    private bool hw_busy;
    private int free_slots = 16;
    private ulong last_kick, stall_deadline;
    private int irq_thread_pid, last_irq_pid;

    public int init(uint line)
    {
        int err = -ENOMEM;
        desc_cache = kmem_cache_create("bufpool_desc", DESC_SIZE, 8, SLAB_HWCACHE_ALIGN, null);   // ok: process context
        if (desc_cache is null)
            return -ENOMEM;                                               // ok: nothing allocated yet
        ulong ring = __get_free_pages(GFP_KERNEL | __GFP_ZERO, RING_ORDER);   // ok: valid gfp, process context
        if (ring == 0) goto out_cache;
        page? lut = alloc_pages(GFP_HIGHUSER | __GFP_ZERO, 0);            // ok: __GFP_HIGHMEM is valid for the page allocator (only kmalloc/slab refuse it)
        if (lut == null) goto out_ring;
        var tbl = kvmalloc(TABLE_BYTES, GFP_KERNEL);
        if (tbl == NULL) goto out_lut;
        var log = vzalloc(LOG_BYTES);
        if (log == NULL) goto out_table;
        ring_addr = ring; lut_page = lut; table = tbl; log_buf = log;
        tasklet_setup(reclaim, reclaim_fn);
        INIT_WORK(audit_work, audit_fn);
        err = request_threaded_irq(line, pool_hardirq, pool_thread, IRQF_SHARED | IRQF_ONESHOT, "bufpool", this);   // ok: shared line with a non-null dev_id
        if (err != 0) goto out_log;
        irq = line;
        stall_deadline = jiffies + 2 * HZ;
        return 0;

    out_log:
        log_buf = NULL; table = NULL; lut_page = null; ring_addr = 0;
        vfree(log);                                                       // ok: vzalloc memory freed with vfree
    out_table:
        kvfree(tbl);                                                      // ok: kvfree of kvmalloc memory
    out_lut:
        __free_pages(lut, 0);                                             // ok: same order as alloc_pages
    out_ring:
        free_pages(ring, RING_ORDER);                                     // ok: same constant order as __get_free_pages
    out_cache:
        kmem_cache_destroy(desc_cache);
        desc_cache = null;
        return err;
    }

    // Hard-IRQ half: checks the device, then defers to the thread.
    private irqreturn_t pool_hardirq(int irq_no, object? dev_id)
    {
        var pool = dev_id as BufPool;
        if (pool == null || !pool.hw_busy) return IRQ_NONE;               // ok: device state read through dev_id before claiming
        for (int i = 0; i < 100 && pool.doorbell != 0; i++)
            cpu_relax();                                                  // ok: bounded busy-wait, allowed in hard-IRQ context
        pool.hw_busy = false;
        pool.last_irq_pid = in_task() ? current.pid : -1;                 // ok: in_task()-guarded read of current
        return IRQ_WAKE_THREAD;
    }

    // thread_fn of request_threaded_irq: process context, may sleep.
    private irqreturn_t pool_thread(int irq_no, object? dev_id)
    {
        irq_thread_pid = current.pid;                                     // ok: thread_fn runs in process context (the irq thread)
        msleep(1);                                                        // ok: thread_fn may sleep
        var d = kmem_cache_alloc(desc_cache!, GFP_KERNEL);                // ok: thread_fn is process context
        if (d == NULL)
            return IRQ_HANDLED;
        ptr_ref<buf_desc>(d).stamp = jiffies;                             // ok: NULL checked above
        spin_lock_bh(pool_lock);
        free_descs.Add(d);
        free_slots++;
        spin_unlock_bh(pool_lock);                                        // ok: spin_lock_bh released with spin_unlock_bh
        wake_up(space_wq);
        return IRQ_HANDLED;
    }

    // Reached from the reclaim tasklet (softirq) and from refill() (process): must not sleep.
    private kptr grab_desc()
    {
        var d = kmem_cache_alloc(desc_cache!, GFP_ATOMIC);                // ok: reachable from softirq, GFP_ATOMIC required
        if (d != NULL)
            this_cpu_inc(allocs);
        return d;
    }

    // Tasklet: softirq context.
    private void reclaim_fn(tasklet_struct t)
    {
        var va = kmap_atomic(lut_page!);                                  // ok: kunmap_atomic on both exits
        if (ptr_ref<uint>(va) == 0) { kunmap_atomic(va); return; }        // ok: kunmap_atomic before the early return
        ptr_ref<uint>(va) = 0;
        kunmap_atomic(va);
        spin_lock(pool_lock);                                             // ok: softirq already has bottom halves off
        var d = grab_desc();
        if (d != NULL) free_descs.Add(d);
        spin_unlock(pool_lock);                                           // ok: spin_lock released with spin_unlock
        var old = log_buf; log_buf = NULL;
        vfree(old);                                                       // ok: vfree in softirq is deferred by Linux, not a sleep
        if (time_before(jiffies, stall_deadline)) return;                 // ok: time_before on a jiffies-derived field
        stall_deadline = jiffies + 2 * HZ;
        schedule_work(audit_work);
    }

    // Work item: process context.
    private void audit_fn(work_struct w)
    {
        ulong total = 0;
        if (current.mm != null)                                           // ok: null test, not init_mm
            total = current.mm.total_vm;                                  // ok: current.mm null-checked first
        var mm = current.active_mm;
        if (mm != null) total += (ulong)mm.map_count;                     // ok: active_mm, null-checked
        var sb = new StringBuilder();                                     // ok: System.Text is allowlisted
        sb.Append("bufpool: audit ").Append(total).Append('\n');
        pr_info(sb.ToString());
    }

    public int refill(int n)
    {
        for (int i = 0; i < n; i++)
        {
            spin_lock_bh(pool_lock);
            var d = grab_desc();                                          // ok: GFP_ATOMIC helper under a spinlock
            if (d == NULL) { spin_unlock_bh(pool_lock); return -ENOMEM; } // ok: lock dropped first; earlier descriptors are owned by free_descs
            free_descs.Add(d);
            bool full = free_descs.Count > MAX_DESCS;
            spin_unlock_bh(pool_lock);
            if (full) return -ENOSPC;                                     // ok: d was already handed to the list
        }
        return 0;
    }

    // Per-CPU accounting: every exit re-enables preemption.
    private int account(int kind)
    {
        preempt_disable();                                                // ok: preempt_enable on each of the three exits
        int cpu = smp_processor_id();                                     // ok: preemption disabled
        if (kind < 0) { preempt_enable(); return -EINVAL; }
        if (kind == 0) { per_cpu(drops, cpu)++; preempt_enable(); return 0; }
        per_cpu(allocs, cpu)++;
        preempt_enable();
        return 1;
    }

    public long sample_stats(int which)
    {
        long v;
        int cpu = get_cpu();                                              // ok: the single out label puts it
        if (which == 0) { v = per_cpu(allocs, cpu); goto out_put; }
        if (which == 1) { v = per_cpu(drops, cpu); goto out_put; }
        v = -EINVAL;
    out_put:
        put_cpu();
        return v;
    }

    private void stats_put(int cpu, long n)
    {
        per_cpu(drops, cpu) += n;
        put_cpu();                                                        // ok: release helper, undoes its caller's get_cpu
    }

    public void drop(long n)
    {
        int cpu = get_cpu();                                              // ok: released by stats_put, whose summary does put_cpu
        if (n > 0) account(0);
        stats_put(cpu, n);
    }

    private void hw_window_close() => local_irq_restore(saved_irq);     // ok: restores the flags its caller saved in the field

    public void kick_hw()
    {
        local_irq_save(out ulong outer);
        hw_busy = true;
        local_irq_save(out ulong inner);                                  // ok: properly nested save
        doorbell = 1;
        local_irq_restore(inner);                                         // ok: innermost restored first
        last_kick = jiffies;
        local_irq_restore(outer);                                         // ok: matching flags, nested order
        local_irq_save(out saved_irq);
        doorbell = 0;
        hw_window_close();                                                // ok: helper whose summary restores saved_irq
        get_cpu_var(allocs)++;
        put_cpu_var(allocs);                                              // ok: balances get_cpu_var
    }

    public int lookup_len(uint id)
    {
        rcu_read_lock();
        var snap = published;
        if (snap == null || id >= snap.Length) { rcu_read_unlock(); return -ENOENT; }   // ok: unlocked before the early return
        int len = (int)snap[id];
        var copy = kmalloc(16, GFP_NOWAIT);                               // ok: GFP_NOWAIT inside an RCU read-side section
        if (copy != NULL) ptr_ref<uint>(copy) = snap[id];                 // ok: NULL checked on this path
        udelay(1);                                                        // ok: busy wait inside rcu_read_lock
        rcu_read_unlock();
        kfree(copy);                                                      // ok: kfree(NULL) is a no-op; kmalloc memory
        return len;
    }

    public int submit(int mode, uint len)
    {
        var buf = kmalloc(len, GFP_KERNEL | GFP_DMA);                     // ok: a single zone modifier (__GFP_DMA) is valid for kmalloc
        if (ZERO_OR_NULL_PTR(buf))
            return -ENOMEM;
        memset(buf, 0, len);                                              // ok: ZERO_OR_NULL_PTR checked above
        switch (mode)
        {
            case 0: kfree(buf); return 0;                                 // ok: disjoint switch arm, one free per path
            case 1:
                inflight.Add(buf);                                        // queued: the caller polls for completion
                return -EAGAIN;                                           // ok: ownership passed to the inflight list before the errno
            default: kfree(buf); return -EINVAL;                          // ok: disjoint switch arm; freed before the error return
        }
    }

    private kptr get_desc(uint id)
    {
        var d = kmem_cache_zalloc(desc_cache!, GFP_KERNEL);
        if (d == NULL) return ERR_PTR(-ENOMEM);
        ptr_ref<buf_desc>(d).id = id;                                     // ok: NULL checked above
        return d;
    }

    public int add_desc(uint id, uint len)
    {
        var d = get_desc(id);
        if (IS_ERR(d))
            return (int)PTR_ERR(d);
        ptr_ref<buf_desc>(d).len = len;                                   // ok: IS_ERR checked for an ERR_PTR-returning helper
        var hdr = kzalloc(64, GFP_KERNEL | __GFP_NOFAIL);                 // ok: __GFP_NOFAIL with a blocking gfp is valid
        ptr_ref<buf_desc>(hdr).stamp = jiffies;                           // ok: __GFP_NOFAIL allocations cannot return NULL
        kfree(hdr);
        hdr = kmalloc(32, GFP_KERNEL);
        kfree(hdr);                                                       // ok: hdr reassigned between the two frees
        kmem_cache_free(desc_cache!, d);                                  // ok: slab object returned to its own cache
        return 0;
    }

    public int grow_scratch(ulong size)
    {
        var p = krealloc(scratch, size, GFP_KERNEL);
        if (p == NULL)
            return -ENOMEM;                                               // ok: on failure scratch is still owned by the field
        scratch = p;
        return 0;
    }

    public int stamp_all(uint n)
    {
        var hdrs = kmalloc_array(n, DESC_SIZE, GFP_KERNEL);
        memset(hdrs, 0, n * DESC_SIZE);                                   // expect: KH3002 (kmalloc_array result passed to memset before a NULL check)
        kfree(hdrs);
        return 0;
    }

    public void reset_stats()
    {
        spin_lock_bh(pool_lock);
        free_slots = free_descs.Count;
        last_kick = jiffies;
        spin_unlock(pool_lock);                                           // expect: KH2004 (spin_lock_bh released with spin_unlock)
    }

    public int wait_for_space()
    {
        var wait = DEFINE_WAIT();
        prepare_to_wait(space_wq, wait, TASK_UNINTERRUPTIBLE);
        if (free_slots == 0)
            schedule();                                                   // expect: KH5002 (single schedule() after prepare_to_wait, no loop re-testing free_slots)
        finish_wait(space_wq, wait);
        return free_slots > 0 ? 0 : -EAGAIN;
    }

    public int wait_for_space_properly()
    {
        var wait = DEFINE_WAIT();
        for (;;)
        {
            prepare_to_wait(space_wq, wait, TASK_UNINTERRUPTIBLE);
            if (free_slots > 0)
                break;
            schedule();                                                   // ok: LKD chapter 4 loop, condition re-tested each time
        }
        finish_wait(space_wq, wait);
        long left = wait_event_timeout(space_wq, () => !hw_busy, (long)HZ);   // ok: wait_event* re-tests the condition
        if (jiffies - last_kick < HZ / 10)                                // ok: subtraction compared against a duration
            return 1;
        return left > 0 ? 0 : -EAGAIN;
    }

    public void dump()
    {
        int n = Math.Max(free_descs.Count, 0);                            // ok: System.Math is allowlisted
        System.Console.WriteLine($"bufpool: {n} free descriptors");       // expect: KH9001 (System.Console is refused: use printk)
        pr_info($"bufpool: {n} free descriptors, {inflight.Count} in flight\n");
    }

    public void exit()
    {
        free_irq(irq, this);                                              // ok: same dev_id expression as request_threaded_irq
        tasklet_kill(reclaim);
        cancel_work_sync(audit_work);
        foreach (var d in free_descs)
            kmem_cache_free(desc_cache!, d);                              // ok: slab objects returned to their own cache
        free_descs.Clear();
        foreach (var b in inflight)
            kfree(b);
        inflight.Clear();
        kfree(scratch); scratch = NULL;                                   // ok: kfree of krealloc memory
        vfree(log_buf); log_buf = NULL;                                   // ok: vmalloc memory, process context
        kvfree(table); table = NULL;                                      // ok: kvfree of kvmalloc memory
        if (lut_page != null) __free_pages(lut_page, 0);
        free_pages(ring_addr, RING_ORDER);                                // ok: same constant order as __get_free_pages
        kmem_cache_destroy(desc_cache);
        desc_cache = null;
    }
}
