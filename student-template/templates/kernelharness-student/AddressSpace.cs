using System;
using KernelHarness;
using KernelHarness.Subsystems;

namespace StudentKernel;

/// <summary>
/// Your implementation of the <c>address space</c> subsystem (<see cref="IAddressSpace"/>). Every member below is a stub
/// that fails with a message naming the function: replace each body with your implementation.
/// The public conformance tests run it on a fresh simulated machine: <c>dotnet test</c>.
/// Keep the public parameterless constructor, and do not call the kernel API from it.
/// </summary>
public sealed class StudentAddressSpace : IAddressSpace
{
    /// <summary>The kernel's reference address space. Never a user context: test <c>current.mm == null</c> instead.</summary>
    public mm_struct init_mm => throw Todo("init_mm", "mm/init-mm.c");

    /// <summary>Allocates an empty address space with <c>mm_users == 1</c> and <c>mm_count == 1</c>.</summary>
    public mm_struct? mm_alloc()
    {
        throw Todo("mm_alloc", "kernel/fork.c");
    }

    /// <summary>The first VMA with <c>vm_end &gt; addr</c>, or null.</summary>
    public vm_area_struct? find_vma(mm_struct mm, ulong addr)
    {
        throw Todo("find_vma", "mm/mmap.c");
    }

    /// <summary>As <c>find_vma</c>, also giving the VMA before the result (the last VMA when the result is null).</summary>
    public vm_area_struct? find_vma_prev(mm_struct mm, ulong addr, out vm_area_struct? pprev)
    {
        throw Todo("find_vma_prev", "mm/mmap.c");
    }

    /// <summary>The first VMA that overlaps [<paramref name="start_addr"/>, <paramref name="end_addr"/>), or null.</summary>
    public vm_area_struct? find_vma_intersection(mm_struct mm, ulong start_addr, ulong end_addr)
    {
        throw Todo("find_vma_intersection", "mm/mmap.c");
    }

    /// <summary>The VMA that contains <paramref name="addr"/>, or null.</summary>
    public vm_area_struct? vma_lookup(mm_struct mm, ulong addr)
    {
        throw Todo("vma_lookup", "include/linux/mm.h");
    }

    /// <summary>Maps [addr, addr+len) in <c>current.mm</c>; returns the address or a negative errno as an unsigned value (test with <c>IS_ERR_VALUE</c>).</summary>
    public ulong do_mmap(file_t? file, ulong addr, ulong len, ulong prot, ulong flags, ulong pgoff)
    {
        throw Todo("do_mmap", "mm/mmap.c");
    }

    /// <summary>Unmaps [start, start+len) of <paramref name="mm"/>: splits, trims and removes VMAs; 0 or a negative errno.</summary>
    public int do_munmap(mm_struct mm, ulong start, ulong len)
    {
        throw Todo("do_munmap", "mm/mmap.c");
    }

    /// <summary>Unmaps a range of <c>current.mm</c>, taking the mmap lock; 0 or a negative errno.</summary>
    public int vm_munmap(ulong start, ulong len)
    {
        throw Todo("vm_munmap", "mm/mmap.c");
    }

    /// <summary>Finds a free range of <paramref name="len"/> bytes, top-down from <c>mmap_base</c>, honouring a free hint.</summary>
    public ulong get_unmapped_area(file_t? file, ulong addr, ulong len, ulong pgoff, ulong flags)
    {
        throw Todo("get_unmapped_area", "mm/mmap.c");
    }

    /// <summary>Takes the mmap lock for reading (sleeps).</summary>
    public void mmap_read_lock(mm_struct mm)
    {
        throw Todo("mmap_read_lock", "include/linux/mmap_lock.h");
    }

    /// <summary>Releases the mmap lock taken for reading.</summary>
    public void mmap_read_unlock(mm_struct mm)
    {
        throw Todo("mmap_read_unlock", "include/linux/mmap_lock.h");
    }

    /// <summary>Takes the mmap lock for writing (sleeps).</summary>
    public void mmap_write_lock(mm_struct mm)
    {
        throw Todo("mmap_write_lock", "include/linux/mmap_lock.h");
    }

    /// <summary>Releases the mmap lock taken for writing.</summary>
    public void mmap_write_unlock(mm_struct mm)
    {
        throw Todo("mmap_write_unlock", "include/linux/mmap_lock.h");
    }

    /// <summary>Takes a user reference (<c>mm_users</c>).</summary>
    public void mmget(mm_struct mm)
    {
        throw Todo("mmget", "include/linux/sched/mm.h");
    }

    /// <summary>Takes a user reference unless the address space is already gone (<c>mm_users == 0</c>).</summary>
    public bool mmget_not_zero(mm_struct mm)
    {
        throw Todo("mmget_not_zero", "include/linux/sched/mm.h");
    }

    /// <summary>Drops a user reference; at zero tears the address space down and drops the mm_count reference.</summary>
    public void mmput(mm_struct mm)
    {
        throw Todo("mmput", "kernel/fork.c");
    }

    /// <summary>Takes a reference on the <c>mm_struct</c> itself (<c>mm_count</c>).</summary>
    public void mmgrab(mm_struct mm)
    {
        throw Todo("mmgrab", "include/linux/sched/mm.h");
    }

    /// <summary>Drops an <c>mm_count</c> reference; frees the <c>mm_struct</c> at zero.</summary>
    public void mmdrop(mm_struct mm)
    {
        throw Todo("mmdrop", "include/linux/sched/mm.h");
    }

    private static NotImplementedException Todo(string function, string linux) =>
        new($"{function}() is not implemented yet: write it in AddressSpace.cs (in Linux: {linux}). See README.md.");
}
