using System;

namespace KernelHarness;

/// <summary>
/// <c>struct page</c>: one per physical page frame (include/linux/mm_types.h). The buddy allocator, the
/// slab allocator and the mm use its fields as Linux does; the page frame number is fixed at boot.
/// </summary>
public sealed class page
{
    public page(ulong pfn, zone_type zone)
    {
        this.pfn = pfn;
        this.zone = zone;
    }

    /// <summary>The page frame number (Linux computes it from the position in <c>mem_map</c>).</summary>
    public readonly ulong pfn;

    /// <summary>The zone the frame belongs to (Linux keeps it in <c>flags</c>).</summary>
    public readonly zone_type zone;

    /// <summary>Page flags: <c>PG_*</c> bits (<see cref="Kernel.PG_buddy"/>, <see cref="Kernel.PG_slab"/>, …).</summary>
    public ulong flags;

    /// <summary>The reference count (<c>_refcount</c>); <c>page_count()</c> reads it.</summary>
    public int _refcount;

    /// <summary>How many page tables map the page, minus one (<c>_mapcount</c>; -1 when unmapped).</summary>
    public int _mapcount = -1;

    /// <summary>The owner of the page's contents (address space or anon_vma), or null.</summary>
    public object? mapping;

    /// <summary>The offset within the mapping.</summary>
    public ulong index;

    /// <summary>Owner-private data: the buddy allocator keeps a free block's order here.</summary>
    public ulong @private;

    /// <summary>List linkage for the owner (free lists, slab partial lists).</summary>
    public page? lru_next, lru_prev;

    // Slab fields (struct slab overlays struct page in Linux).

    /// <summary>The cache that owns this slab page.</summary>
    public kmem_cache? slab_cache;

    /// <summary>The first free object of this slab (its free pointer chain lives inside free objects).</summary>
    public kptr freelist;

    /// <summary>Objects in use in this slab.</summary>
    public int inuse;

    /// <summary>Objects this slab holds.</summary>
    public int objects;

    /// <summary>The slab is owned by a CPU's cache (not on the partial list).</summary>
    public bool frozen;

    /// <summary>The order of the compound page this is the head of (<c>__GFP_COMP</c>), or 0.</summary>
    public int compound_order;

    /// <summary>For a tail page of a compound page, its head.</summary>
    public page? compound_head;

    /// <summary>The storage chunk holding this block's bytes, cached by the reference slab for its hot path (not part of struct page).</summary>
    internal byte[]? raw_chunk;

    public override string ToString() => $"page(pfn:{pfn:x5} zone:{zone} refcount:{_refcount})";
}

/// <summary>
/// A slab cache (<c>struct kmem_cache</c>, mm/slab.h). Implementations of the slab subsystem may derive
/// from it to keep their own state; the fields here are what Linux's generic code and the
/// conformance suites read.
/// </summary>
public class kmem_cache
{
    public kmem_cache(string name, ulong object_size, ulong align, slab_flags_t flags, Action<kptr>? ctor)
    {
        this.name = name;
        this.object_size = object_size;
        this.size = object_size;
        this.align = align;
        this.flags = flags;
        this.ctor = ctor;
    }

    /// <summary>The cache's name, as in /proc/slabinfo.</summary>
    public readonly string name;

    /// <summary>The size of an object as requested (without metadata).</summary>
    public readonly ulong object_size;

    /// <summary>The size of an object including metadata and alignment: the stride in a slab.</summary>
    public ulong size;

    /// <summary>The alignment of objects, after <c>calculate_alignment</c>.</summary>
    public ulong align;

    /// <summary>The cache's flags.</summary>
    public readonly slab_flags_t flags;

    /// <summary>The constructor run once per object when its slab is created.</summary>
    public readonly Action<kptr>? ctor;

    /// <summary>The offset of the free pointer inside a free object.</summary>
    public ulong offset;

    /// <summary>The page order of each slab.</summary>
    public int order;

    /// <summary>Objects per slab.</summary>
    public int objects_per_slab;

    /// <summary>The left red zone's size, when red-zoned.</summary>
    public ulong red_left_pad;

    /// <summary>References (merged caches); destroyed when it reaches 0.</summary>
    public int refcount = 1;

    public override string ToString() => name;
}
