// A DMA descriptor pool written with records, tuples, indexers and generic helpers: a threaded IRQ whose
// handlers are lambdas stored in fields, a kthread local function, leaks and double frees through deconstruction.
using System;
using System.Collections.Generic;
using System.Numerics;
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.R3HDmaPool;

public enum Prio { Low, Normal, High }

public readonly record struct DescPair(kptr Head, kptr Body);

public sealed record ChannelStats
{
    public ulong StartedAt { get; init; }
    public ulong Deadline { get; init; }
    public int Completed { get; init; }
}

public sealed class DmaPool
{
    private const int RingOrder = 2;
    private const int SlotCount = 32;
    private readonly rwlock_t table_lock = new();
    private readonly spinlock_t chan_lock = new();
    private readonly mutex pool_mutex = new();
    private readonly semaphore slots_sem = new(4);
    private readonly work_struct refill_work = new();
    private static readonly percpu<int> submits = DEFINE_PER_CPU<int>();
    private readonly kptr[] slots = new kptr[SlotCount];
    private readonly Dictionary<int, DescPair> inflight = new();
    private readonly irq_handler_t hard_handler;
    private readonly irq_handler_t thread_handler;
    private kmem_cache? desc_cache;
    private kmem_cache? body_cache;
    private task_struct? reaper;
    private ulong ring_pages;
    private ChannelStats stats = new();
    private uint irq;
    private int status;
    private int owner_pid;
    private int last_irq_pid;

    public DmaPool()
    {
        hard_handler = (irq_no, dev_id) =>
        {
            if (dev_id is not DmaPool { status: not 0 } pool)
                return IRQ_NONE;
            spin_lock(pool.chan_lock);
            pool.status = 0;
            spin_unlock(pool.chan_lock);
            pool.last_irq_pid = current is { pid: > 0 } task ? task.pid : 0; // expect: KH4003 (property pattern reads current in the hard-IRQ lambda)
            if (pool.Who() == pool.owner_pid)
                return IRQ_HANDLED;
            int done = pool.Locked(() => pool.stats.Completed); // expect: KH1001 (generic helper Locked<T> takes pool_mutex, called from the hard-IRQ lambda)
            var scratch = kcalloc(4, 64, GFP_NOIO); // expect: KH1002 (GFP_NOIO allows direct reclaim, in hard-IRQ context)
            if (scratch != NULL)
                kfree(scratch);
            mdelay(1); // ok: mdelay busy-waits, allowed in hard-IRQ context
            return done >= 0 ? IRQ_WAKE_THREAD : IRQ_HANDLED;
        };
        thread_handler = (irq_no, dev_id) =>
        {
            mutex_lock(pool_mutex); // ok: thread_fn of request_threaded_irq runs in process context
            owner_pid = current.pid; // ok: thread_fn runs in process context
            var log = kzalloc(256, GFP_KERNEL); // ok: GFP_KERNEL in a thread_fn holding only a mutex
            if (log != NULL)
            {
                memset(log, 0x5a, 256);
                kfree(log);
            }
            msleep(1); // ok: threaded handler may sleep
            stats = stats with { Completed = stats.Completed + 1 };
            mutex_unlock(pool_mutex);
            return IRQ_HANDLED;
        };
    }

    public kptr this[int slot]
    {
        get
        {
            read_lock(table_lock); // expect: KH2003 (the out-of-range return of the indexer getter leaves table_lock read-held)
            if ((uint)slot >= SlotCount)
                return NULL;
            var p = slots[slot];
            read_unlock(table_lock);
            return p;
        }
        set
        {
            write_lock_bh(table_lock); // ok: released on the only exit of the setter
            slots[slot] = value;
            write_unlock_bh(table_lock);
        }
    }

    private T Locked<T>(Func<T> body)
    {
        mutex_lock(pool_mutex); // ok: released in finally on every exit
        try
        {
            return body();
        }
        finally
        {
            mutex_unlock(pool_mutex);
        }
    }

    private static T ReadLocal<T>(percpu<T> v) where T : INumber<T>
    {
        ref T slot = ref get_cpu_var(v); // ok: put_cpu_var on the only exit
        T value = slot;
        put_cpu_var(v);
        return value;
    }

    private void Drain(bool may_sleep)
    {
        if (may_sleep)
            msleep(5);
        else
            udelay(20);
    }

    private int Who() => current.pid; // expect: KH4003 (expression-bodied helper reads current; it is called from the hard-IRQ lambda)

    public int init(uint irq_line)
    {
        irq = irq_line;
        desc_cache = kmem_cache_create("r3h_desc", 64, 64, SLAB_HWCACHE_ALIGN, null);
        body_cache = kmem_cache_create("r3h_body", 512, 64, SLAB_HWCACHE_ALIGN, null);
        if (desc_cache is null || body_cache is null)
            return -ENOMEM;
        ring_pages = __get_free_pages(GFP_KERNEL | __GFP_ZERO, RingOrder);
        if (ring_pages == 0)
            return -ENOMEM;
        var table = kvmalloc(SlotCount * 16, GFP_KERNEL);
        if (table == NULL)
            return -ENOMEM;
        INIT_WORK(refill_work, w =>
        {
            var page_log = vmalloc(8 * PAGE_SIZE);
            if (page_log == NULL)
                return;
            memset(page_log, 0, 8 * PAGE_SIZE);
            mutex_lock(pool_mutex); // ok: work item, process context
            for (int i = 0; i < SlotCount; i++)
                if (slots[i] == NULL)
                    slots[i] = kzalloc(16, GFP_KERNEL); // ok: work item, only a mutex held
            mutex_unlock(pool_mutex);
            kfree(page_log); // expect: KH3001 (vmalloc memory freed with kfree in the work lambda)
        });
        int err = request_threaded_irq(irq, hard_handler, thread_handler, IRQF_ONESHOT, "r3h-dma", this);
        if (err != 0)
            return err; // expect: KH3004 (table from kvmalloc leaks when request_threaded_irq fails)
        memset(table, 0, SlotCount * 16);
        kvfree(table); // ok: kvfree accepts kvmalloc memory
        stats = new() { StartedAt = jiffies, Deadline = jiffies + 3 * HZ };
        return 0;
    }

    public int submit(int id, Prio prio)
    {
        gfp_t gfp = prio switch { Prio.High => GFP_ATOMIC, _ => GFP_KERNEL };
        var head = kmem_cache_alloc(desc_cache!, gfp);
        if (head == NULL)
            return -ENOMEM;
        spin_lock(chan_lock);
        var body = kmem_cache_alloc(body_cache!, gfp); // expect: KH1002 (gfp is GFP_KERNEL unless prio is High, allocated with chan_lock held)
        var tag = kmalloc(16, GFP_NOWAIT); // ok: GFP_NOWAIT never blocks
        spin_unlock(chan_lock);
        if (body == NULL)
        {
            kmem_cache_free(desc_cache!, head);
            kfree(tag);
            return -ENOMEM; // ok: head and tag are freed before this error return
        }
        if (tag == NULL)
        {
            inflight[id] = new DescPair(head, body);
            return -EAGAIN; // ok: head and body were handed to the inflight dictionary
        }
        if (inflight.ContainsKey(id))
        {
            kmem_cache_free(desc_cache!, head);
            kmem_cache_free(body_cache!, body);
            return -EEXIST; // expect: KH3004 (tag from kmalloc is not freed on the duplicate-id path)
        }
        memset(tag, id, 16);
        this[id % SlotCount] = tag;
        inflight[id] = new(head, body);
        int cpu = get_cpu();
        per_cpu(submits, cpu)++;
        put_cpu();
        put_cpu(); // expect: KH2001 (second put_cpu has no get_cpu left to undo)
        return 0;
    }

    public void retire(int id)
    {
        if (!inflight.Remove(id, out var pair))
            return;
        var (head, body) = pair;
        kmem_cache_free(desc_cache!, head);
        kmem_cache_free(body_cache!, body);
        write_lock_bh(table_lock);
        var tag = slots[(uint)id % SlotCount];
        slots[(uint)id % SlotCount] = NULL;
        write_unlock_bh(table_lock);
        kfree(tag);
        (tag, head) = (NULL, NULL);
        kfree(tag); // ok: tag was reassigned to NULL by the tuple assignment between the two frees
    }

    public int scan(Prio floor)
    {
        int busy = 0;
        read_lock(table_lock);
        foreach (var s in slots)
        {
            if (s == NULL)
                continue;
            busy++;
        }
        if (busy > SlotCount / 2)
            cond_resched(); // expect: KH1001 (cond_resched may sleep while table_lock is read-held)
        read_unlock(table_lock);
        spin_lock(chan_lock);
        Drain(may_sleep: false); // ok: the sleeping branch is ruled out by the constant argument
        if (down_trylock(slots_sem) == 0) // ok: down_trylock never sleeps
            up(slots_sem);
        spin_unlock(chan_lock);
        Drain(may_sleep: true); // ok: chan_lock was dropped on every path
        preempt_disable(); // expect: KH2001 (the Prio.High case returns with preemption disabled)
        switch (floor)
        {
            case Prio.High:
                return busy;
            case Prio.Normal:
                busy += ReadLocal(submits);
                break;
        }
        preempt_enable();
        return busy;
    }

    public int flush(int id)
    {
        if (down_interruptible(slots_sem) != 0) return -EINTR; // ok: the semaphore is not held when down_interruptible fails
        var log = kmalloc(128, GFP_KERNEL);
        if (log == NULL)
        {
            up(slots_sem);
            return -ENOMEM;
        }
        void drop(kptr p) => kfree(p);
        switch (inflight.TryGetValue(id, out var pair) ? pair : default)
        {
            case { Head.addr: 0 }:
                drop(log);
                up(slots_sem);
                return -ENOENT; // ok: log is freed through the drop local function
            case var live when live.Body != NULL:
                memset(log, 0, 128);
                drop(log);
                break;
        }
        drop(log); // expect: KH3003 (on the live-body path drop(log) already freed log)
        if (stats.Deadline < jiffies) // expect: KH5001 (raw < between the record's Deadline, initialised to jiffies + 3 * HZ, and jiffies)
            pr_warn($"r3h-dma: flush of {id} past deadline");
        if (time_before(jiffies, stats.Deadline)) // ok: time_before
            pr_info($"r3h-dma: flush of {id} on time");
        if (jiffies_to_msecs(jiffies - stats.StartedAt) > 250) // ok: difference of two times compared with a duration
            pr_info("r3h-dma: channel warm");
        up(slots_sem);
        return 0;
    }

    public int test_slot(int slot)
    {
        var probe = kzalloc(64, GFP_KERNEL);
        if (probe == NULL)
            return -ENOMEM;
        try
        {
            memset(probe, slot, 64);
            kfree(probe);
        }
        finally
        {
            kfree(probe); // expect: KH3003 (on the normal path the try block already freed probe)
        }
        return 0;
    }

    public int start()
    {
        int reap(object? data)
        {
            var (t0, limit) = (jiffies, jiffies + 3 * HZ);
            while (!kthread_should_stop())
            {
                owner_pid = current.pid; // ok: kernel thread, process context
                var batch = kmalloc_array(SlotCount, 8, GFP_KERNEL); // ok: kernel thread with nothing held
                if (batch == NULL)
                    continue;
                memset(batch, 0, SlotCount * 8);
                kfree(batch); // ok: kmalloc_array memory freed with kfree
                if (jiffies <= limit) // expect: KH5001 (raw <= between jiffies and limit, deconstructed from jiffies + 3 * HZ)
                    msleep(10); // ok: kernel thread may sleep
                else
                    (t0, limit) = (jiffies, jiffies + 3 * HZ);
            }
            return 0;
        }
        reaper = kthread_run(reap, this, "r3h-dma-reaper");
        return 0;
    }

    public void stop()
    {
        if (reaper is { } r)
            kthread_stop(r);
        reaper = null;
        spin_lock(chan_lock);
        status = -1;
        synchronize_irq(irq); // expect: KH1001 (synchronize_irq waits for handlers while chan_lock is held)
        spin_unlock(chan_lock);
        free_irq(irq, this);
        cancel_work_sync(refill_work);
        if (spin_trylock(chan_lock)) // ok: balanced conditional locking
        {
            status = 0;
            spin_unlock(chan_lock);
        }
        free_pages(ring_pages, RingOrder + 1); // expect: KH3001 (ring_pages came from __get_free_pages of order RingOrder, freed with a different constant order)
        kmem_cache_destroy(body_cache);
        kmem_cache_destroy(desc_cache);
    }
}
