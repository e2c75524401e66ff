using KernelHarness.Annotations;

namespace KernelHarness.Api;

/// <summary>
/// Slab helpers Linux builds on the allocator's own calls, here library code built on the bound slab's
/// <c>kmem_cache_alloc</c>, <c>kmem_cache_free</c> and <c>kfree</c> (so a student's <c>ISlab</c> does not
/// grow): the generic bulk fallbacks (<c>__kmem_cache_alloc_bulk</c>, <c>__kmem_cache_free_bulk</c>) and
/// <c>kfree_rcu</c> with its barrier. Not in kernel-api.md's lists: see docs/design/api-description.md.
/// </summary>
[KernelSubsystem("slab library", "ISlabLibrary", Linux = "mm/slab_common.c")]
internal static class SlabLibraryDescription
{
    /// <summary>
    /// Allocates <paramref name="nr"/> objects into <paramref name="p"/>: all or nothing. Returns
    /// <paramref name="nr"/>, or 0 after freeing what it took (S-16).
    /// </summary>
    [Linux("mm/slub.c", Function = "kmem_cache_alloc_bulk"), MightSleepIfGfp("flags")]
    public static int kmem_cache_alloc_bulk(kmem_cache s, gfp_t flags, ulong nr, kptr[] p) =>
        Reference.Slab.SlabLibrary.AllocBulk(s, flags, nr, p);

    /// <summary>Frees the first <paramref name="nr"/> objects of <paramref name="p"/> into <paramref name="s"/> (kfree when <paramref name="s"/> is null).</summary>
    [Linux("mm/slub.c", Function = "kmem_cache_free_bulk")]
    public static void kmem_cache_free_bulk(kmem_cache? s, ulong nr, kptr[] p) =>
        Reference.Slab.SlabLibrary.FreeBulk(s, nr, p);

    /// <summary>
    /// Frees kmalloc, kmem_cache or vmalloc memory after an RCU grace period: once every task that was
    /// inside <c>rcu_read_lock()</c> when it was called has left that section. Never sleeps.
    /// (Linux's <c>kfree_rcu(ptr, rhf)</c> / <c>kvfree_rcu_mightsleep(ptr)</c>; objects here need no <c>rcu_head</c>.)
    /// </summary>
    [Linux("include/linux/rcupdate.h", Function = "kfree_rcu")]
    [Frees(AllocFamily.Kmalloc | AllocFamily.KmemCache | AllocFamily.Vmalloc, "p")]
    public static void kfree_rcu(kptr p) => Reference.Slab.SlabLibrary.KfreeRcu(p);

    /// <summary>Waits until every pending <c>kfree_rcu</c> has freed its object (<c>kmem_cache_destroy</c> calls it first). May sleep.</summary>
    [Linux("mm/slab_common.c", Function = "kvfree_rcu_barrier"), MightSleep]
    public static void kvfree_rcu_barrier() => Reference.Slab.SlabLibrary.KvfreeRcuBarrier();
}
