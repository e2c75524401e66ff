using System;
using KernelHarness.Annotations;

namespace KernelHarness.Api;

/// <summary>
/// The buddy page allocator (kernel-api.md §2): zones, orders up to <c>MAX_PAGE_ORDER</c>,
/// splitting and coalescing buddies, zone fallback from the gfp zone modifiers.
/// </summary>
[KernelSubsystem("page allocator", "IPageAllocator", Assignable = true, BootOrder = 10, Reference = typeof(Reference.PageAllocator.ReferencePageAllocator), Linux = "mm/page_alloc.c")]
internal interface PageAllocatorDescription
{
    /// <summary>Hands every usable page frame to the allocator's free lists at boot (<c>memblock_free_all</c>).</summary>
    [Linux("mm/mm_init.c"), BootHook]
    void mem_init();

    /// <summary>Allocates 2^<paramref name="order"/> contiguous pages; returns the first <c>page</c>, or null.</summary>
    [Linux("mm/page_alloc.c"), MightSleepIfGfp("gfp")]
    [Allocates(AllocFamily.PageStruct, Gfp = "gfp", Order = "order")]
    page? alloc_pages(gfp_t gfp, int order);

    /// <summary>Allocates one page (<c>alloc_pages(gfp, 0)</c>).</summary>
    [Linux("include/linux/gfp.h"), MightSleepIfGfp("gfp")]
    [Allocates(AllocFamily.PageStruct, Gfp = "gfp")]
    page? alloc_page(gfp_t gfp);

    /// <summary>Allocates 2^<paramref name="order"/> pages and returns their kernel virtual address, or 0.</summary>
    [Linux("mm/page_alloc.c"), MightSleepIfGfp("gfp")]
    [Allocates(AllocFamily.Pages, Gfp = "gfp", Order = "order")]
    ulong __get_free_pages(gfp_t gfp, int order);

    /// <summary>Allocates one page and returns its address, or 0.</summary>
    [Linux("include/linux/gfp.h"), MightSleepIfGfp("gfp")]
    [Allocates(AllocFamily.Pages, Gfp = "gfp")]
    ulong __get_free_page(gfp_t gfp);

    /// <summary>Allocates one zeroed page and returns its address, or 0.</summary>
    [Linux("mm/page_alloc.c"), MightSleepIfGfp("gfp")]
    [Allocates(AllocFamily.Pages, Gfp = "gfp", Zeroes = true)]
    ulong get_zeroed_page(gfp_t gfp);

    /// <summary>Drops a reference to a block of 2^<paramref name="order"/> pages; frees it at zero.</summary>
    [Linux("mm/page_alloc.c"), Frees(AllocFamily.PageStruct, "page", Order = "order")]
    void __free_pages(page page, int order);

    /// <summary>Frees one page (<c>__free_pages(page, 0)</c>).</summary>
    [Linux("include/linux/gfp.h"), Frees(AllocFamily.PageStruct, "page")]
    void __free_page(page page);

    /// <summary>Frees 2^<paramref name="order"/> pages given by address (0 is ignored).</summary>
    [Linux("mm/page_alloc.c"), Frees(AllocFamily.Pages, "addr", Order = "order")]
    void free_pages(ulong addr, int order);

    /// <summary>Frees one page given by address.</summary>
    [Linux("include/linux/gfp.h"), Frees(AllocFamily.Pages, "addr")]
    void free_page(ulong addr);

    /// <summary>The kernel virtual address of a page.</summary>
    [Linux("include/linux/mm.h")]
    kptr page_address(page page);

    /// <summary>The page that holds a kernel virtual address.</summary>
    [Linux("include/linux/mm.h")]
    page virt_to_page(kptr addr);

    /// <summary>The page frame number of a page.</summary>
    [Linux("include/asm-generic/memory_model.h")]
    ulong page_to_pfn(page page);

    /// <summary>The page of a page frame number.</summary>
    [Linux("include/asm-generic/memory_model.h")]
    page pfn_to_page(ulong pfn);

    /// <summary>The zone a page belongs to.</summary>
    [Linux("include/linux/mm.h")]
    zone_type page_zone(page page);

    /// <summary>The page's reference count.</summary>
    [Linux("include/linux/page_ref.h")]
    int page_count(page page);

    /// <summary>Takes a reference on a page.</summary>
    [Linux("include/linux/mm.h")]
    void get_page(page page);

    /// <summary>Drops a reference on a page; frees it at zero.</summary>
    [Linux("mm/swap.c")]
    void put_page(page page);

    /// <summary>Free pages in all zones.</summary>
    [Linux("mm/page_alloc.c")]
    ulong nr_free_pages();

    /// <summary>The number of free blocks of an order in a zone (<c>zone->free_area[order].nr_free</c>, /proc/buddyinfo).</summary>
    [Linux("include/linux/mmzone.h", Function = "free_area.nr_free")]
    ulong zone_nr_free(zone_type zone, int order);
}

/// <summary>
/// The slab allocator and kmalloc (kernel-api.md §2), SLUB-like, on top of the page allocator;
/// vmalloc on top of pages mapped contiguously in the vmalloc area.
/// </summary>
[KernelSubsystem("slab", "ISlab", Assignable = true, BootOrder = 20, Reference = typeof(Reference.Slab.ReferenceSlab), Linux = "mm/slub.c")]
internal interface SlabDescription
{
    /// <summary>Creates the kmalloc caches at boot.</summary>
    [Linux("mm/slub.c"), BootHook]
    void kmem_cache_init();

    /// <summary>Creates a cache of <paramref name="size"/>-byte objects; null on failure.</summary>
    [Linux("mm/slab_common.c"), MightSleep]
    kmem_cache? kmem_cache_create(string name, ulong size, ulong align, slab_flags_t flags, Action<kptr>? ctor);

    /// <summary>Allocates an object from a cache; NULL on failure.</summary>
    [Linux("mm/slub.c"), MightSleepIfGfp("flags")]
    [Allocates(AllocFamily.KmemCache, Cache = "cachep", Gfp = "flags")]
    kptr kmem_cache_alloc(kmem_cache cachep, gfp_t flags);

    /// <summary>Allocates a zeroed object from a cache; NULL on failure.</summary>
    [Linux("include/linux/slab.h"), MightSleepIfGfp("flags")]
    [Allocates(AllocFamily.KmemCache, Cache = "cachep", Gfp = "flags", Zeroes = true)]
    kptr kmem_cache_zalloc(kmem_cache cachep, gfp_t flags);

    /// <summary>Returns an object to its cache.</summary>
    [Linux("mm/slub.c"), Frees(AllocFamily.KmemCache, "objp", Cache = "cachep")]
    void kmem_cache_free(kmem_cache cachep, kptr objp);

    /// <summary>Destroys a cache; with live objects, reports them and keeps the cache. Null is ignored. Calls kvfree_rcu_barrier() first, as mm/slab_common.c does, so objects still waiting in kfree_rcu() are freed before the check.</summary>
    [Linux("mm/slab_common.c"), MightSleep]
    void kmem_cache_destroy(kmem_cache? s);

    /// <summary>Releases empty slabs of a cache to the page allocator; returns 0 when all slabs were freed.</summary>
    [Linux("mm/slab_common.c"), MightSleep]
    int kmem_cache_shrink(kmem_cache cachep);

    /// <summary>Allocates <paramref name="size"/> bytes; NULL on failure, <c>ZERO_SIZE_PTR</c> for 0.</summary>
    [Linux("include/linux/slab.h"), MightSleepIfGfp("flags")]
    [Allocates(AllocFamily.Kmalloc, Size = "size", Gfp = "flags")]
    kptr kmalloc(ulong size, gfp_t flags);

    /// <summary>
    /// kmalloc's allocation from a given kmalloc-type cache, recording the requested size
    /// (<c>orig_size</c>): with <c>SLAB_KMALLOC | SLAB_STORE_USER | SLAB_RED_ZONE</c> the bytes from
    /// <paramref name="size"/> to the object size are red zone. <c>kmalloc(size)</c> is this call on
    /// the size class's cache. (Linux 6.1-6.9 <c>kmalloc_trace</c>; 6.10 renamed it <c>__kmalloc_cache_noprof</c>.)
    /// </summary>
    [Linux("mm/slub.c"), MightSleepIfGfp("flags")]
    [Allocates(AllocFamily.Kmalloc, Cache = "s", Size = "size", Gfp = "flags")]
    kptr kmalloc_trace(kmem_cache s, gfp_t flags, ulong size);

    /// <summary>Allocates <paramref name="size"/> zeroed bytes.</summary>
    [Linux("include/linux/slab.h"), MightSleepIfGfp("flags")]
    [Allocates(AllocFamily.Kmalloc, Size = "size", Gfp = "flags", Zeroes = true)]
    kptr kzalloc(ulong size, gfp_t flags);

    /// <summary>Allocates a zeroed array; NULL when <c>n * size</c> overflows.</summary>
    [Linux("include/linux/slab.h"), MightSleepIfGfp("flags")]
    [Allocates(AllocFamily.Kmalloc, Count = "n", Size = "size", Gfp = "flags", Zeroes = true)]
    kptr kcalloc(ulong n, ulong size, gfp_t flags);

    /// <summary>Allocates an array; NULL when <c>n * size</c> overflows.</summary>
    [Linux("include/linux/slab.h"), MightSleepIfGfp("flags")]
    [Allocates(AllocFamily.Kmalloc, Count = "n", Size = "size", Gfp = "flags")]
    kptr kmalloc_array(ulong n, ulong size, gfp_t flags);

    /// <summary>Resizes <paramref name="p"/>, keeping <c>min(old, new)</c> bytes; <c>krealloc(p, 0)</c> frees and returns <c>ZERO_SIZE_PTR</c>.</summary>
    [Linux("mm/slub.c"), MightSleepIfGfp("flags")]
    [Allocates(AllocFamily.Kmalloc, Size = "new_size", Gfp = "flags", Reallocates = "p")]
    kptr krealloc(kptr p, ulong new_size, gfp_t flags);

    /// <summary>Frees kmalloc memory; NULL and <c>ZERO_SIZE_PTR</c> are ignored.</summary>
    [Linux("mm/slub.c"), Frees(AllocFamily.Kmalloc, "objp")]
    void kfree(kptr objp);

    /// <summary>The usable size of a kmalloc object (its size class).</summary>
    [Linux("mm/slab_common.c")]
    ulong ksize(kptr objp);

    /// <summary>Allocates virtually contiguous memory, page by page; may sleep.</summary>
    [Linux("mm/vmalloc.c"), MightSleep]
    [Allocates(AllocFamily.Vmalloc, Size = "size")]
    kptr vmalloc(ulong size);

    /// <summary>Allocates zeroed virtually contiguous memory.</summary>
    [Linux("mm/vmalloc.c"), MightSleep]
    [Allocates(AllocFamily.Vmalloc, Size = "size", Zeroes = true)]
    kptr vzalloc(ulong size);

    /// <summary>Frees vmalloc memory; may sleep, except in interrupt context where Linux defers the free.</summary>
    [Linux("mm/vmalloc.c"), MightSleep(ExceptIn = KernelContext.Interrupt)]
    [Frees(AllocFamily.Vmalloc, "addr")]
    void vfree(kptr addr);

    /// <summary>kmalloc, falling back to vmalloc for large sizes when the flags allow sleeping.</summary>
    [Linux("mm/util.c"), MightSleepIfGfp("flags")]
    [Allocates(AllocFamily.Kvmalloc, Size = "size", Gfp = "flags")]
    kptr kvmalloc(ulong size, gfp_t flags);

    /// <summary>Frees kvmalloc, kmalloc or vmalloc memory.</summary>
    [Linux("mm/util.c"), Frees(AllocFamily.Kvmalloc, "addr")]
    void kvfree(kptr addr);
}

/// <summary>
/// Reaching the bytes behind kernel pointers: every access is checked like KASAN
/// (use after free, out of bounds, red zones), and highmem mappings.
/// </summary>
[KernelSubsystem("memory access", "IMemoryAccess", BootOrder = 0, Reference = typeof(Reference.MemoryAccess.ReferenceMemoryAccess), Linux = "mm/kasan/generic.c")]
internal interface MemoryAccessDescription
{
    /// <summary>A span over the bytes [<paramref name="p"/>, <paramref name="p"/> + <paramref name="len"/>), checked like KASAN.</summary>
    [Linux("mm/kasan/generic.c", Function = "kasan_check_range"), KernelRole(KernelRole.Dereference)]
    Span<byte> ptr_span(kptr p, ulong len);

    /// <summary>A reference to an unmanaged <typeparamref name="T"/> at <paramref name="p"/>, checked like KASAN.</summary>
    [Linux("mm/kasan/generic.c", Function = "kasan_check_range"), KernelRole(KernelRole.Dereference)]
    ref T ptr_ref<T>(kptr p) where T : unmanaged;

    /// <summary>Fills <paramref name="n"/> bytes with <paramref name="c"/>; returns <paramref name="s"/>.</summary>
    [Linux("lib/string.c"), KernelRole(KernelRole.Dereference)]
    kptr memset(kptr s, int c, ulong n);

    /// <summary>Copies <paramref name="n"/> bytes (the ranges must not overlap); returns <paramref name="dest"/>.</summary>
    [Linux("lib/string.c"), KernelRole(KernelRole.Dereference)]
    kptr memcpy(kptr dest, kptr src, ulong n);

    /// <summary>Copies <paramref name="n"/> bytes, the ranges may overlap; returns <paramref name="dest"/>.</summary>
    [Linux("lib/string.c"), KernelRole(KernelRole.Dereference)]
    kptr memmove(kptr dest, kptr src, ulong n);

    /// <summary>Compares <paramref name="n"/> bytes.</summary>
    [Linux("lib/string.c"), KernelRole(KernelRole.Dereference)]
    int memcmp(kptr a, kptr b, ulong n);

    /// <summary>Maps a (possibly highmem) page into the kernel's address space; may sleep.</summary>
    [Linux("include/linux/highmem.h"), MightSleep, PairsWith("kunmap")]
    kptr kmap(page page);

    /// <summary>Undoes <c>kmap</c>.</summary>
    [Linux("include/linux/highmem.h")]
    void kunmap(page page);

    /// <summary>Maps a page atomically: disables preemption until <c>kunmap_atomic</c>.</summary>
    [Linux("include/linux/highmem.h"), EntersContext(LockKind.KmapAtomic), PairsWith("kunmap_atomic")]
    kptr kmap_atomic(page page);

    /// <summary>Undoes <c>kmap_atomic</c>.</summary>
    [Linux("include/linux/highmem.h"), LeavesContext(LockKind.KmapAtomic)]
    void kunmap_atomic(kptr addr);
}
