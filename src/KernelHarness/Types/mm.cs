using System;

namespace KernelHarness;

/// <summary><c>struct file</c>: C# reserves nothing here, but <c>file</c> clashes with common names, so Linux's type is <c>file_t</c>.</summary>
public sealed class file_t
{
    public file_t(string name, ulong f_mode = 0x3)
    {
        this.name = name;
        this.f_mode = f_mode;
    }

    /// <summary>The file's path, for messages.</summary>
    public readonly string name;

    /// <summary>FMODE_READ (1) | FMODE_WRITE (2).</summary>
    public ulong f_mode;

    public override string ToString() => name;
}

/// <summary>VMA operations (<c>struct vm_operations_struct</c>): a VMA with <c>close</c> is never deleted by a merge.</summary>
public sealed class vm_operations_struct
{
    public Action<vm_area_struct>? open;
    public Action<vm_area_struct>? close;
    public string? name;
}

/// <summary>
/// A virtual memory area (<c>struct vm_area_struct</c>, include/linux/mm_types.h): the range
/// [<see cref="vm_start"/>, <see cref="vm_end"/>) of an address space with one set of flags.
/// </summary>
public class vm_area_struct
{
    /// <summary>The address space this VMA belongs to.</summary>
    public mm_struct? vm_mm;

    /// <summary>The first address in the VMA (inclusive, page aligned).</summary>
    public ulong vm_start;

    /// <summary>The first address after the VMA (exclusive, page aligned).</summary>
    public ulong vm_end;

    /// <summary><c>VM_*</c> flags.</summary>
    public ulong vm_flags;

    /// <summary>The page protection derived from the flags.</summary>
    public ulong vm_page_prot;

    /// <summary>Offset in <c>PAGE_SIZE</c> units within <see cref="vm_file"/> (for anonymous private mappings, <c>vm_start &gt;&gt; PAGE_SHIFT</c>).</summary>
    public ulong vm_pgoff;

    /// <summary>The mapped file, or null for anonymous memory.</summary>
    public file_t? vm_file;

    /// <summary>The VMA's operations, or null.</summary>
    public vm_operations_struct? vm_ops;

    /// <summary>The anon_vma once a page has been faulted in (null until then).</summary>
    public object? anon_vma;

    /// <summary>The VMA's size in pages.</summary>
    public ulong vma_pages() => (vm_end - vm_start) >> 12;

    public override string ToString() => $"[{vm_start:x}-{vm_end:x}) flags:{vm_flags:x} pgoff:{vm_pgoff:x}";
}

/// <summary>A read/write semaphore (<c>struct rw_semaphore</c>): a sleeping lock with shared readers.</summary>
public sealed class rw_semaphore : Runtime.KernelLockObject
{
    public rw_semaphore([System.Runtime.CompilerServices.CallerMemberName] string member = "",
        [System.Runtime.CompilerServices.CallerFilePath] string file = "",
        [System.Runtime.CompilerServices.CallerLineNumber] int line = 0)
        : base("rw_semaphore", member, file, line) { }
}

/// <summary>
/// An address space (<c>struct mm_struct</c>, include/linux/mm_types.h). The VMA set belongs to the
/// address-space implementation, which keeps it in <see cref="mm_mt"/> (Linux: the maple tree); an
/// implementation may also derive from this class.
/// </summary>
public class mm_struct
{
    /// <summary>The VMA set, owned by the address-space implementation.</summary>
    public object? mm_mt;

    /// <summary>The number of VMAs.</summary>
    public int map_count;

    /// <summary>Real users of the address space (<c>mm_users</c>): torn down at 0.</summary>
    public int mm_users = 1;

    /// <summary>References to the <c>mm_struct</c> itself (<c>mm_count</c>): freed at 0.</summary>
    public int mm_count = 1;

    /// <summary>The top of the mmap area: top-down searches start here.</summary>
    public ulong mmap_base;

    /// <summary>The size of the user address space.</summary>
    public ulong task_size;

    public ulong start_code, end_code, start_data, end_data;
    public ulong start_brk, brk, start_stack;

    /// <summary>Pages mapped in total.</summary>
    public ulong total_vm;

    /// <summary>The page global directory (the page-table root), owned by the mm implementation.</summary>
    public object? pgd;

    /// <summary>The mmap lock (a sleeping read/write semaphore).</summary>
    public readonly rw_semaphore mmap_lock = new();

    /// <summary>Set once the mm has been torn down (<c>exit_mmap</c>); for debug checks.</summary>
    public bool torn_down;

    /// <summary>Set once the mm_struct has been freed (<c>__mmdrop</c>); for debug checks.</summary>
    public bool freed;

    /// <summary>A name for messages.</summary>
    public string name = "mm";

    public override string ToString() => $"{name}(users:{mm_users} count:{mm_count} vmas:{map_count})";
}
