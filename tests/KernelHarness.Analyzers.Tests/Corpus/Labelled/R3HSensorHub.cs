// A sensor hub split over partial classes with a nested Channel type: static lambdas for timers, a tasklet
// delegate kept in a field, ?. and ?? on channels, tuples; preemption and lock leaks, double frees through aliases.
using System;
using System.Collections.Generic;
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.R3HSensorHub;

public static class SampleExtensions
{
    public static void Free(this kptr p) => kfree(p);
    public static bool IsLive(this kptr p) => !ZERO_OR_NULL_PTR(p);
}

public sealed partial class SensorHub
{
    public sealed class Channel
    {
        public readonly spinlock_t Lock = new();
        public kptr Samples = NULL;
        public int Count;
        public ulong LastSeen;
        public Channel? Next;
    }

    private static readonly timer_list poll_timer = new();
    private static readonly timer_list gc_timer = new();
    private static readonly percpu<ulong> polls = DEFINE_PER_CPU<ulong>();
    private static SensorHub? instance;
    private static int last_pid;
    private static ulong next_poll;
    private static kptr gc_log = NULL;

    private readonly tasklet_struct fuse_tasklet = new();
    private readonly work_struct calib_work = new();
    private readonly mutex calib_lock = new();
    private readonly rwlock_t chan_lock = new();
    private readonly Action<tasklet_struct> fuse_cb;
    private readonly Dictionary<int, Channel> channels = new();
    private Channel? head;
    private kmem_cache? sample_cache;
    private kptr calib_table = NULL;
    private uint irq;
    private bool shared_line;
    private int fused;

    public SensorHub()
    {
        fuse_cb = t =>
        {
            var who = in_task() ? current.comm : "softirq"; // ok: the read of current is guarded by in_task()
            read_lock(chan_lock);
            fused = head?.Count ?? 0;
            read_unlock(chan_lock);
            pr_info($"r3h-hub: fused {fused} samples ({who})");
        };
    }

    private static void PollTick(timer_list t)
    {
        var hub = instance;
        if (hub is null)
            return;
        last_pid = current.pid; // expect: KH4003 (current read in a timer callback, softirq context)
        if (jiffies > next_poll) // expect: KH5001 (raw > between jiffies and next_poll, a field assigned jiffies + HZ / 10)
            pr_warn("r3h-hub: poll overrun");
        if (time_after_eq(jiffies, next_poll + HZ)) // ok: time_after_eq handles the wrap
            pr_warn("r3h-hub: poll overrun by a second");
        int cpu = get_cpu(); // expect: KH2001 (the ch is null return leaves preemption disabled)
        var ch = hub.head?.Next ?? hub.head;
        if (ch is null)
            return;
        per_cpu(polls, cpu)++;
        put_cpu();
        vfree(gc_log); // ok: gc_log only ever holds vmalloc memory, and vfree from softirq context is deferred, it does not sleep
        gc_log = NULL;
        next_poll = jiffies + HZ / 10;
        mod_timer(poll_timer, next_poll);
    }

    private irqreturn_t hub_isr(int irq_no, object? dev_id)
    {
        if (dev_id is not SensorHub { head: { Count: > 0 } } hub)
            return IRQ_NONE;
        var vm = current.mm?.total_vm ?? 0; // expect: KH4003 (current.mm read in a hard-IRQ handler belongs to the interrupted task)
        var burst = kmalloc(256, hub.shared_line ? GFP_ATOMIC : GFP_KERNEL); // expect: KH1002 (the GFP_KERNEL arm is taken in hard-IRQ context when shared_line is false)
        var sample = kmem_cache_alloc(hub.sample_cache!, GFP_ATOMIC); // ok: GFP_ATOMIC in hard-IRQ context
        if (sample != NULL)
            kmem_cache_free(hub.sample_cache!, sample);
        if (burst != NULL)
            kfree(burst);
        if (vm == 0 && hub.fused < 0)
            flush_work(hub.calib_work); // expect: KH1001 (flush_work waits for the work item, in a hard-IRQ handler)
        tasklet_schedule(hub.fuse_tasklet);
        return IRQ_HANDLED;
    }

    [Acquires("ch.Lock")]
    private static void LockChannel(Channel ch) => spin_lock(ch.Lock); // ok: annotated [Acquires], the caller releases
    [Releases("ch.Lock")]
    private static void UnlockChannel(Channel ch) => spin_unlock(ch.Lock); // ok: annotated [Releases], the caller acquired

    public kptr CalibTable
    {
        get
        {
            mutex_lock(calib_lock); // expect: KH2003 (the getter returns NULL with calib_lock still held)
            if (calib_table == NULL)
                return NULL;
            var t = calib_table;
            mutex_unlock(calib_lock);
            return t;
        }
    }

    public int HotChannels
    {
        get
        {
            preempt_disable(); // expect: KH2001 (the first is null return leaves preemption disabled)
            var first = head?.Next;
            if (first is null)
                return 0;
            int n = 0;
            for (var c = first; c is not null; c = c.Next)
                n += c.Count > 8 ? 1 : 0;
            preempt_enable();
            return n;
        }
    }
}

public sealed partial class SensorHub
{
    public int probe(uint irq_line, bool shared)
    {
        (irq, shared_line, instance) = (irq_line, shared, this);
        sample_cache = kmem_cache_create("r3h_sample", 128, 8, SLAB_HWCACHE_ALIGN, null);
        if (sample_cache is null)
            return -ENOMEM;
        gc_log = vmalloc(PAGE_SIZE);
        tasklet_setup(fuse_tasklet, fuse_cb);
        timer_setup(poll_timer, static t => PollTick(t), 0);
        timer_setup(gc_timer, static t =>
        {
            var stamp = kzalloc(32, GFP_NOWAIT); // ok: GFP_NOWAIT never blocks
            if (stamp != NULL)
                kvfree(stamp); // ok: kvfree accepts kmalloc memory
        }, 0);
        INIT_WORK(calib_work, w =>
        {
            local_irq_save(out var flags);
            fused = 0;
            local_irq_restore(flags);
            var table = kmalloc(PAGE_SIZE, GFP_KERNEL); // ok: process context, interrupts were restored before the allocation
            if (table == NULL)
                return;
            msleep(10); // ok: work item may sleep
            pr_info($"r3h-hub: calibrated for {current.comm}"); // ok: work item runs in process context
            mutex_lock(calib_lock);
            var old = calib_table;
            calib_table = table;
            mutex_unlock(calib_lock);
            kfree(old);
        });
        int err = request_irq(irq, hub_isr, shared ? IRQF_SHARED : 0, "r3h-hub", this);
        if (err != 0)
            return err;
        next_poll = jiffies + HZ / 10;
        mod_timer(poll_timer, next_poll);
        mod_timer(gc_timer, jiffies + 10 * HZ);
        return 0;
    }

    public int add_channel(int id)
    {
        var samples = kmem_cache_zalloc(sample_cache!, GFP_KERNEL);
        if (samples == NULL)
            return -ENOMEM;
        if (channels.ContainsKey(id))
            return -EEXIST; // expect: KH3004 (samples from kmem_cache_zalloc leaks on the duplicate-id path)
        var ch = new Channel { Samples = samples, LastSeen = jiffies };
        write_lock_bh(chan_lock);
        (ch.Next, head) = (head, ch);
        write_unlock_bh(chan_lock);
        if (channels.Count >= 16)
            return -ENOSPC; // ok: samples is owned by the channel list through head
        channels[id] = ch;
        return 0;
    }

    public int read_samples(int id, ulong ubuf, ulong len)
    {
        var bounce = kmalloc(len, GFP_KERNEL);
        if (bounce == NULL)
            return -ENOMEM;
        rcu_read_lock(); // expect: KH2003 (the is-not pattern return leaves the RCU read-side section open)
        if (channels.GetValueOrDefault(id) is not { } ch) { kfree(bounce); return -ENOENT; }
        memcpy(bounce, ch.Samples, min(len, 128UL));
        if (copy_to_user(ubuf, bounce, len) != 0) // expect: KH1001 (copy_to_user may fault and sleep inside rcu_read_lock)
        {
            rcu_read_unlock();
            return -EFAULT; // expect: KH3004 (bounce from kmalloc leaks when copy_to_user fails)
        }
        rcu_read_unlock();
        var (cur, n) = (bounce, len);
        kfree(bounce);
        if (n > 64)
            kfree(cur); // expect: KH3003 (cur is bounce through the deconstruction, freed just above)
        return (int)n;
    }

    public int resample(int id, ulong size)
    {
        if (!channels.TryGetValue(id, out var ch))
            return -ENOENT;
        var wide = kvmalloc(size * 2, GFP_KERNEL);
        var narrow = kmalloc(size, GFP_KERNEL);
        if (wide == NULL || narrow == NULL)
        {
            kvfree(wide);
            kfree(narrow);
            return -ENOMEM; // ok: both buffers are freed before this error return
        }
        read_lock_irqsave(chan_lock, out var flags);
        var extra = kmem_cache_zalloc(sample_cache!, GFP_USER); // expect: KH1002 (GFP_USER allows blocking; chan_lock is held with interrupts off)
        read_unlock_irqrestore(chan_lock, flags);
        LockChannel(ch); // ok: annotated helper, released by UnlockChannel below
        ch.Count++;
        UnlockChannel(ch); // ok: releases what LockChannel took
        (wide, narrow) = (narrow, wide);
        kfree(wide); // ok: after the swap wide holds the kmalloc buffer, freed once
        kvfree(narrow); // ok: after the swap narrow holds the kvmalloc buffer, freed once
        if (extra != NULL)
            kfree(extra); // expect: KH3001 (object of sample_cache freed with kfree)
        var raw = kmalloc(size, GFP_KERNEL);
        if (raw == NULL)
            return -ENOMEM;
        memset(raw, 0, size);
        vfree(raw); // expect: KH3001 (kmalloc memory freed with vfree)
        var blob = kvmalloc(size, GFP_KERNEL);
        if (blob != NULL)
            kfree(blob); // expect: KH3001 (kvmalloc memory freed with kfree)
        ulong pages = __get_free_pages(GFP_KERNEL, get_order(size));
        if (pages != 0)
            free_pages(pages, get_order(size)); // ok: the order is not a constant, and it matches the allocation
        return 0;
    }

    public void compact(int mode)
    {
        write_lock_bh(chan_lock);
        switch (mode)
        {
            case 0:
                write_unlock_bh(chan_lock);
                break;
            default:
                for (var c = head; c is not null; c = c.Next)
                    c.Count = 0;
                break;
        }
        write_unlock_bh(chan_lock); // expect: KH2003 (on the mode 0 path chan_lock was already released in the switch)
        var scratch = kzalloc(512, GFP_KERNEL);
        if (scratch == NULL)
            return;
        switch (mode)
        {
            case 1:
                kfree(scratch); // ok: the frees in case 1 and the default case are on disjoint paths
                break;
            default:
                kfree(scratch); // ok: disjoint from case 1
                break;
        }
        var spare = kzalloc(512, GFP_KERNEL);
        if (spare == NULL)
            return;
        spare.Free();
        if (mode > 2)
            spare.Free(); // expect: KH3003 (the Free() extension already freed spare on every path)
    }

    public int sweep()
    {
        int swept = 0;
        for (int i = 0; i < 4; i++)
        {
            int cpu = get_cpu(); // ok: put_cpu before continue and at the end of every iteration
            if (i == cpu) { put_cpu(); continue; }
            swept++;
            put_cpu();
        }
        void unpin() => put_cpu(); // ok: helper whose summary releases what the caller took
        int me = get_cpu(); // ok: every path calls unpin()
        if (me > 64) { unpin(); return -EINVAL; }
        unpin();
        var ages = new List<ulong>();
        read_lock(chan_lock);
        for (var c = head; c is not null; c = c.Next)
            if (c.LastSeen != jiffies) // ok: != is an equality test, not a raw ordering comparison
                ages.Add(jiffies - c.LastSeen);
        read_unlock(chan_lock);
        if (mutex_trylock(calib_lock) != 0) // ok: conditional locking, released inside the branch
        {
            swept += calib_table.IsLive() ? 1 : 0;
            mutex_unlock(calib_lock);
        }
        return swept + ages.Count;
    }

    public void reset_calib(ulong size)
    {
        mutex_lock(calib_lock);
        var t = calib_table;
        calib_table = NULL;
        mutex_unlock(calib_lock);
        kfree(t);
        t = NULL;
        kfree(t); // ok: t was reassigned to NULL between the frees (kfree(NULL) is a no-op)
        t = kmalloc(size, GFP_KERNEL);
        if (t == NULL)
            return;
        memset(t, 0, size);
        kfree(t); // ok: t was reassigned by a new kmalloc since the earlier frees
    }

    public void remove()
    {
        free_irq(irq, this);
        del_timer_sync(poll_timer);
        del_timer_sync(gc_timer);
        cancel_work_sync(calib_work);
        tasklet_kill(fuse_tasklet);
        kfree(calib_table);
        for (var c = head; c is not null; c = c.Next)
        {
            kmem_cache_free(sample_cache!, c.Samples); // ok: Samples only ever holds sample_cache objects
            c.Samples = NULL;
        }
        kfree(calib_table); // expect: KH3003 (calib_table was freed above with no reassignment in between)
        calib_table = NULL;
        head = null;
        kmem_cache_destroy(sample_cache);
    }
}
