using System;
using KernelHarness;
using KernelHarness.Subsystems;

namespace StudentKernel;

/// <summary>
/// Your implementation of the <c>slab</c> subsystem (<see cref="ISlab"/>). Every member below is a stub
/// that fails with a message naming the function: replace each body with your implementation.
/// The public conformance tests run it on a fresh simulated machine: <c>dotnet test</c>.
/// Keep the public parameterless constructor, and do not call the kernel API from it.
/// </summary>
public sealed class StudentSlab : ISlab
{
    /// <summary>Creates a cache of <paramref name="size"/>-byte objects; null on failure.</summary>
    public kmem_cache? kmem_cache_create(string name, ulong size, ulong align, slab_flags_t flags, Action<kptr>? ctor)
    {
        throw Todo("kmem_cache_create", "mm/slab_common.c");
    }

    /// <summary>Allocates an object from a cache; NULL on failure.</summary>
    public kptr kmem_cache_alloc(kmem_cache cachep, gfp_t flags)
    {
        throw Todo("kmem_cache_alloc", "mm/slub.c");
    }

    /// <summary>Allocates a zeroed object from a cache; NULL on failure.</summary>
    public kptr kmem_cache_zalloc(kmem_cache cachep, gfp_t flags)
    {
        throw Todo("kmem_cache_zalloc", "include/linux/slab.h");
    }

    /// <summary>Returns an object to its cache.</summary>
    public void kmem_cache_free(kmem_cache cachep, kptr objp)
    {
        throw Todo("kmem_cache_free", "mm/slub.c");
    }

    /// <summary>Destroys a cache; with live objects, reports them and keeps the cache. Null is ignored. Calls kvfree_rcu_barrier() first, as mm/slab_common.c does, so objects still waiting in kfree_rcu() are freed before the check.</summary>
    public void kmem_cache_destroy(kmem_cache? s)
    {
        throw Todo("kmem_cache_destroy", "mm/slab_common.c");
    }

    /// <summary>Releases empty slabs of a cache to the page allocator; returns 0 when all slabs were freed.</summary>
    public int kmem_cache_shrink(kmem_cache cachep)
    {
        throw Todo("kmem_cache_shrink", "mm/slab_common.c");
    }

    /// <summary>Allocates <paramref name="size"/> bytes; NULL on failure, <c>ZERO_SIZE_PTR</c> for 0.</summary>
    public kptr kmalloc(ulong size, gfp_t flags)
    {
        throw Todo("kmalloc", "include/linux/slab.h");
    }

    /// <summary>kmalloc's allocation from a given kmalloc-type cache, recording the requested size (orig_size).</summary>
    public kptr kmalloc_trace(kmem_cache s, gfp_t flags, ulong size)
    {
        throw Todo("kmalloc_trace", "mm/slub.c");
    }

    /// <summary>Allocates <paramref name="size"/> zeroed bytes.</summary>
    public kptr kzalloc(ulong size, gfp_t flags)
    {
        throw Todo("kzalloc", "include/linux/slab.h");
    }

    /// <summary>Allocates a zeroed array; NULL when <c>n * size</c> overflows.</summary>
    public kptr kcalloc(ulong n, ulong size, gfp_t flags)
    {
        throw Todo("kcalloc", "include/linux/slab.h");
    }

    /// <summary>Allocates an array; NULL when <c>n * size</c> overflows.</summary>
    public kptr kmalloc_array(ulong n, ulong size, gfp_t flags)
    {
        throw Todo("kmalloc_array", "include/linux/slab.h");
    }

    /// <summary>Resizes <paramref name="p"/>, keeping <c>min(old, new)</c> bytes; <c>krealloc(p, 0)</c> frees and returns <c>ZERO_SIZE_PTR</c>.</summary>
    public kptr krealloc(kptr p, ulong new_size, gfp_t flags)
    {
        throw Todo("krealloc", "mm/slub.c");
    }

    /// <summary>Frees kmalloc memory; NULL and <c>ZERO_SIZE_PTR</c> are ignored.</summary>
    public void kfree(kptr objp)
    {
        throw Todo("kfree", "mm/slub.c");
    }

    /// <summary>The usable size of a kmalloc object (its size class).</summary>
    public ulong ksize(kptr objp)
    {
        throw Todo("ksize", "mm/slab_common.c");
    }

    /// <summary>Allocates virtually contiguous memory, page by page; may sleep.</summary>
    public kptr vmalloc(ulong size)
    {
        throw Todo("vmalloc", "mm/vmalloc.c");
    }

    /// <summary>Allocates zeroed virtually contiguous memory.</summary>
    public kptr vzalloc(ulong size)
    {
        throw Todo("vzalloc", "mm/vmalloc.c");
    }

    /// <summary>Frees vmalloc memory; may sleep, except in interrupt context where Linux defers the free.</summary>
    public void vfree(kptr addr)
    {
        throw Todo("vfree", "mm/vmalloc.c");
    }

    /// <summary>kmalloc, falling back to vmalloc for large sizes when the flags allow sleeping.</summary>
    public kptr kvmalloc(ulong size, gfp_t flags)
    {
        throw Todo("kvmalloc", "mm/util.c");
    }

    /// <summary>Frees kvmalloc, kmalloc or vmalloc memory.</summary>
    public void kvfree(kptr addr)
    {
        throw Todo("kvfree", "mm/util.c");
    }

    private static NotImplementedException Todo(string function, string linux) =>
        new($"{function}() is not implemented yet: write it in Slab.cs (in Linux: {linux}). See README.md.");
}
