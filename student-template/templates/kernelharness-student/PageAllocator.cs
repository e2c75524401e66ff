using System;
using KernelHarness;
using KernelHarness.Subsystems;

namespace StudentKernel;

/// <summary>
/// Your implementation of the <c>page allocator</c> subsystem (<see cref="IPageAllocator"/>). Every member below is a stub
/// that fails with a message naming the function: replace each body with your implementation.
/// The public conformance tests run it on a fresh simulated machine: <c>dotnet test</c>.
/// Keep the public parameterless constructor, and do not call the kernel API from it.
/// </summary>
public sealed class StudentPageAllocator : IPageAllocator
{
    /// <summary>Allocates 2^<paramref name="order"/> contiguous pages; returns the first <c>page</c>, or null.</summary>
    public page? alloc_pages(gfp_t gfp, int order)
    {
        throw Todo("alloc_pages", "mm/page_alloc.c");
    }

    /// <summary>Allocates one page (<c>alloc_pages(gfp, 0)</c>).</summary>
    public page? alloc_page(gfp_t gfp)
    {
        throw Todo("alloc_page", "include/linux/gfp.h");
    }

    /// <summary>Allocates 2^<paramref name="order"/> pages and returns their kernel virtual address, or 0.</summary>
    public ulong __get_free_pages(gfp_t gfp, int order)
    {
        throw Todo("__get_free_pages", "mm/page_alloc.c");
    }

    /// <summary>Allocates one page and returns its address, or 0.</summary>
    public ulong __get_free_page(gfp_t gfp)
    {
        throw Todo("__get_free_page", "include/linux/gfp.h");
    }

    /// <summary>Allocates one zeroed page and returns its address, or 0.</summary>
    public ulong get_zeroed_page(gfp_t gfp)
    {
        throw Todo("get_zeroed_page", "mm/page_alloc.c");
    }

    /// <summary>Drops a reference to a block of 2^<paramref name="order"/> pages; frees it at zero.</summary>
    public void __free_pages(page page, int order)
    {
        throw Todo("__free_pages", "mm/page_alloc.c");
    }

    /// <summary>Frees one page (<c>__free_pages(page, 0)</c>).</summary>
    public void __free_page(page page)
    {
        throw Todo("__free_page", "include/linux/gfp.h");
    }

    /// <summary>Frees 2^<paramref name="order"/> pages given by address (0 is ignored).</summary>
    public void free_pages(ulong addr, int order)
    {
        throw Todo("free_pages", "mm/page_alloc.c");
    }

    /// <summary>Frees one page given by address.</summary>
    public void free_page(ulong addr)
    {
        throw Todo("free_page", "include/linux/gfp.h");
    }

    /// <summary>The kernel virtual address of a page.</summary>
    public kptr page_address(page page)
    {
        throw Todo("page_address", "include/linux/mm.h");
    }

    /// <summary>The page that holds a kernel virtual address.</summary>
    public page virt_to_page(kptr addr)
    {
        throw Todo("virt_to_page", "include/linux/mm.h");
    }

    /// <summary>The page frame number of a page.</summary>
    public ulong page_to_pfn(page page)
    {
        throw Todo("page_to_pfn", "include/asm-generic/memory_model.h");
    }

    /// <summary>The page of a page frame number.</summary>
    public page pfn_to_page(ulong pfn)
    {
        throw Todo("pfn_to_page", "include/asm-generic/memory_model.h");
    }

    /// <summary>The zone a page belongs to.</summary>
    public zone_type page_zone(page page)
    {
        throw Todo("page_zone", "include/linux/mm.h");
    }

    /// <summary>The page's reference count.</summary>
    public int page_count(page page)
    {
        throw Todo("page_count", "include/linux/page_ref.h");
    }

    /// <summary>Takes a reference on a page.</summary>
    public void get_page(page page)
    {
        throw Todo("get_page", "include/linux/mm.h");
    }

    /// <summary>Drops a reference on a page; frees it at zero.</summary>
    public void put_page(page page)
    {
        throw Todo("put_page", "mm/swap.c");
    }

    /// <summary>Free pages in all zones.</summary>
    public ulong nr_free_pages()
    {
        throw Todo("nr_free_pages", "mm/page_alloc.c");
    }

    /// <summary>The number of free blocks of an order in a zone (<c>zone->free_area[order].nr_free</c>, /proc/buddyinfo).</summary>
    public ulong zone_nr_free(zone_type zone, int order)
    {
        throw Todo("zone_nr_free", "mm/page_alloc.c");
    }

    private static NotImplementedException Todo(string function, string linux) =>
        new($"{function}() is not implemented yet: write it in PageAllocator.cs (in Linux: {linux}). See README.md.");
}
