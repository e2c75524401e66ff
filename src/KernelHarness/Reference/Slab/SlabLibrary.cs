using System.Collections.Generic;
using KernelHarness.Annotations;
using KernelHarness.Runtime;
using static KernelHarness.Kernel;

namespace KernelHarness.Reference.Slab;

/// <summary>
/// The slab helpers Linux builds on the allocator (mm/slab_common.c, mm/slub.c, kernel/rcu/tree.c), made
/// of kernel API calls only, so they run on whichever slab is bound.
/// <para>Invariants of the kfree_rcu queue (one per machine):</para>
/// <list type="bullet">
/// <item>an entry is freed only after its grace period: every task that was in an RCU read-side section
/// when <c>kfree_rcu</c> was called has since left that section (its count of outermost
/// <c>rcu_read_unlock</c>s moved) or exited;</item>
/// <item>entries leave the queue before they are freed, so a free that is itself an interleaving point
/// (where the timer may run) never frees an entry twice;</item>
/// <item>while the queue is not empty a timer (softirq context, as RCU callbacks run) is pending; it frees
/// what is due and re-arms itself.</item>
/// </list>
/// </summary>
internal static class SlabLibrary
{
    // ---- bulk: __kmem_cache_alloc_bulk / __kmem_cache_free_bulk ----

    public static int AllocBulk(kmem_cache s, gfp_t flags, ulong nr, kptr[] p)
    {
        if (p is null || nr > (ulong)p.Length)
        {
            WARN(true, $"kmem_cache_alloc_bulk({s?.name}, nr {nr}): the array holds {p?.Length ?? 0} pointers");
            return 0;
        }
        for (ulong i = 0; i < nr; i++)
        {
            var x = kmem_cache_alloc(s!, flags);
            if (x.addr == 0)
            {
                FreeBulk(s, i, p); // all or nothing (S-16)
                return 0;
            }
            p[i] = x;
        }
        return (int)nr;
    }

    public static void FreeBulk(kmem_cache? s, ulong nr, kptr[] p)
    {
        if (p is null || nr > (ulong)p.Length)
        {
            WARN(true, $"kmem_cache_free_bulk({s?.name}, nr {nr}): the array holds {p?.Length ?? 0} pointers");
            return;
        }
        for (ulong i = 0; i < nr; i++)
        {
            if (s is null)
                kfree(p[i]);
            else
                kmem_cache_free(s, p[i]);
        }
    }

    // ---- kfree_rcu ----

    internal sealed record Reader(SimTask Task, long Exits);

    internal sealed record Pending(kptr P, Reader[] Readers);

    internal sealed class Queue
    {
        public readonly List<Pending> Entries = new();
        public readonly timer_list Timer = new();
        public bool TimerReady;
    }

    public static void KfreeRcu(kptr p)
    {
        if (ZERO_OR_NULL_PTR(p))
            return;
        var m = Machine.Current;
        var q = m.KfreeRcuQueue ??= new Queue();
        var readers = new List<Reader>();
        foreach (var t in m.AllTasks)
        {
            if (t.IsAlive && t.RcuDepth > 0)
                readers.Add(new Reader(t, t.RcuExits));
        }
        q.Entries.Add(new Pending(p, readers.ToArray()));
        if (!q.TimerReady)
        {
            timer_setup(q.Timer, _ => RcuCallbacks(q), 0);
            q.TimerReady = true;
        }
        if (!timer_pending(q.Timer))
            mod_timer(q.Timer, jiffies + 1);
    }

    /// <summary>The RCU softirq's work: frees every entry whose grace period has ended; re-arms while some wait.</summary>
    private static void RcuCallbacks(Queue q)
    {
        FreeDue(q);
        if (q.Entries.Count > 0)
            mod_timer(q.Timer, jiffies + 1);
    }

    private static bool GracePeriodOver(Pending e)
    {
        foreach (var r in e.Readers)
        {
            if (r.Task.IsAlive && r.Task.RcuExits == r.Exits)
                return false;
        }
        return true;
    }

    private static void FreeDue(Queue q)
    {
        var due = new List<kptr>();
        for (int i = 0; i < q.Entries.Count;)
        {
            if (GracePeriodOver(q.Entries[i]))
            {
                due.Add(q.Entries[i].P);
                q.Entries.RemoveAt(i);
            }
            else
                i++;
        }
        foreach (var p in due)
            Free(p);
    }

    /// <summary>kvfree, or kmem_cache_free into the object's cache for an object of a kmem_cache (kfree works on any slab object in Linux).</summary>
    private static void Free(kptr p)
    {
        var cache = CacheOf(p);
        if (cache is null)
            kvfree(p);
        else
            kmem_cache_free(cache, p);
    }

    private static kmem_cache? CacheOf(kptr p)
    {
        var m = Machine.Current;
        if (m.Checks.Enabled && m.Checks.FindLive(p.addr) is { } a)
            return a.Family == AllocFamily.KmemCache ? a.Cache : null;
        if (p.addr < PAGE_OFFSET || ((p.addr - PAGE_OFFSET) >> PAGE_SHIFT) >= Arch.max_pfn)
            return null;
        var page = Arch.mem_map((p.addr - PAGE_OFFSET) >> PAGE_SHIFT);
        page = page.compound_head ?? page;
        var s = (page.flags & PG_slab) != 0 ? page.slab_cache : null;
        return s is not null && (s.flags & SLAB_KMALLOC) == 0 ? s : null;
    }

    public static void KvfreeRcuBarrier()
    {
        var m = Machine.Current;
        var q = m.KfreeRcuQueue;
        if (q is null)
            return;
        var self = m.CurrentSim;
        while (true)
        {
            FreeDue(q);
            if (q.Entries.Count == 0)
                return;
            if (q.Entries.Exists(e => System.Array.Exists(e.Readers, r => ReferenceEquals(r.Task, self) && r.Task.RcuExits == r.Exits)))
            {
                WARN(true, "kvfree_rcu_barrier() inside an RCU read-side critical section: the grace period it waits for cannot end");
                return;
            }
            set_current_state(TASK_UNINTERRUPTIBLE);
            schedule_timeout(1);
        }
    }
}
