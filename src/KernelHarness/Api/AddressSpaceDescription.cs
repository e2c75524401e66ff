using KernelHarness.Annotations;

namespace KernelHarness.Api;

/// <summary>
/// Address spaces (kernel-api.md §3): VMAs of an <c>mm_struct</c>, mmap and munmap, the mmap lock,
/// and the two reference counts of an mm (Documentation/mm/active_mm.rst).
/// </summary>
[KernelSubsystem("address space", "IAddressSpace", Assignable = true, BootOrder = 30, Reference = typeof(Reference.AddressSpace.ReferenceAddressSpace), Linux = "mm/mmap.c")]
internal interface AddressSpaceDescription
{
    /// <summary>Sets up the kernel's own mm (<c>init_mm</c>) at boot.</summary>
    [Linux("mm/mmap.c"), BootHook]
    void mmap_init();

    /// <summary>The kernel's reference address space. Never a user context: test <c>current.mm == null</c> instead.</summary>
    [Linux("mm/init-mm.c"), KernelRole(KernelRole.InitMm)]
    mm_struct init_mm { get; }

    /// <summary>Allocates an empty address space with <c>mm_users == 1</c> and <c>mm_count == 1</c>.</summary>
    [Linux("kernel/fork.c"), MightSleep]
    mm_struct? mm_alloc();

    /// <summary>The first VMA with <c>vm_end &gt; addr</c>, or null.</summary>
    [Linux("mm/mmap.c")]
    vm_area_struct? find_vma(mm_struct mm, ulong addr);

    /// <summary>As <c>find_vma</c>, also giving the VMA before the result (the last VMA when the result is null).</summary>
    [Linux("mm/mmap.c")]
    vm_area_struct? find_vma_prev(mm_struct mm, ulong addr, out vm_area_struct? pprev);

    /// <summary>The first VMA that overlaps [<paramref name="start_addr"/>, <paramref name="end_addr"/>), or null.</summary>
    [Linux("mm/mmap.c")]
    vm_area_struct? find_vma_intersection(mm_struct mm, ulong start_addr, ulong end_addr);

    /// <summary>The VMA that contains <paramref name="addr"/>, or null.</summary>
    [Linux("include/linux/mm.h")]
    vm_area_struct? vma_lookup(mm_struct mm, ulong addr);

    /// <summary>Maps [addr, addr+len) in <c>current.mm</c>; returns the address or a negative errno as an unsigned value (test with <c>IS_ERR_VALUE</c>).</summary>
    [Linux("mm/mmap.c")]
    ulong do_mmap(file_t? file, ulong addr, ulong len, ulong prot, ulong flags, ulong pgoff);

    /// <summary>Unmaps [start, start+len) of <paramref name="mm"/>: splits, trims and removes VMAs; 0 or a negative errno.</summary>
    [Linux("mm/mmap.c"), ReturnsErrno]
    int do_munmap(mm_struct mm, ulong start, ulong len);

    /// <summary>Unmaps a range of <c>current.mm</c>, taking the mmap lock; 0 or a negative errno.</summary>
    [Linux("mm/mmap.c"), MightSleep, ReturnsErrno]
    int vm_munmap(ulong start, ulong len);

    /// <summary>Finds a free range of <paramref name="len"/> bytes, top-down from <c>mmap_base</c>, honouring a free hint.</summary>
    [Linux("mm/mmap.c")]
    ulong get_unmapped_area(file_t? file, ulong addr, ulong len, ulong pgoff, ulong flags);

    /// <summary>Takes the mmap lock for reading (sleeps).</summary>
    [Linux("include/linux/mmap_lock.h"), MightSleep, Acquires("mm.mmap_lock", Kind = LockKind.MmapRead), PairsWith("mmap_read_unlock")]
    void mmap_read_lock(mm_struct mm);

    /// <summary>Releases the mmap lock taken for reading.</summary>
    [Linux("include/linux/mmap_lock.h"), Releases("mm.mmap_lock", Kind = LockKind.MmapRead)]
    void mmap_read_unlock(mm_struct mm);

    /// <summary>Takes the mmap lock for writing (sleeps).</summary>
    [Linux("include/linux/mmap_lock.h"), MightSleep, Acquires("mm.mmap_lock", Kind = LockKind.MmapWrite), PairsWith("mmap_write_unlock")]
    void mmap_write_lock(mm_struct mm);

    /// <summary>Releases the mmap lock taken for writing.</summary>
    [Linux("include/linux/mmap_lock.h"), Releases("mm.mmap_lock", Kind = LockKind.MmapWrite)]
    void mmap_write_unlock(mm_struct mm);

    /// <summary>Takes a user reference (<c>mm_users</c>).</summary>
    [Linux("include/linux/sched/mm.h"), PairsWith("mmput")]
    void mmget(mm_struct mm);

    /// <summary>Takes a user reference unless the address space is already gone (<c>mm_users == 0</c>).</summary>
    [Linux("include/linux/sched/mm.h")]
    bool mmget_not_zero(mm_struct mm);

    /// <summary>Drops a user reference; at zero tears the address space down and drops the mm_count reference.</summary>
    [Linux("kernel/fork.c"), MightSleep]
    void mmput(mm_struct mm);

    /// <summary>Takes a reference on the <c>mm_struct</c> itself (<c>mm_count</c>).</summary>
    [Linux("include/linux/sched/mm.h"), PairsWith("mmdrop")]
    void mmgrab(mm_struct mm);

    /// <summary>Drops an <c>mm_count</c> reference; frees the <c>mm_struct</c> at zero.</summary>
    [Linux("include/linux/sched/mm.h")]
    void mmdrop(mm_struct mm);
}

/// <summary>Copying to and from user memory: may fault, so may sleep.</summary>
[KernelSubsystem("uaccess", "IUserAccess", BootOrder = 35, Reference = typeof(Reference.Uaccess.ReferenceUserAccess), Linux = "include/linux/uaccess.h")]
internal interface UserAccessDescription
{
    /// <summary>Copies <paramref name="n"/> bytes from user address <paramref name="from"/>; returns the bytes not copied.</summary>
    [Linux("include/linux/uaccess.h"), MightSleep]
    ulong copy_from_user(kptr to, ulong from, ulong n);

    /// <summary>Copies <paramref name="n"/> bytes to user address <paramref name="to"/>; returns the bytes not copied.</summary>
    [Linux("include/linux/uaccess.h"), MightSleep]
    ulong copy_to_user(ulong to, kptr from, ulong n);

    /// <summary>Reads one value from user memory; 0 or <c>-EFAULT</c>.</summary>
    [Linux("arch/x86/include/asm/uaccess.h"), MightSleep]
    int get_user<T>(out T x, ulong ptr) where T : unmanaged;

    /// <summary>Writes one value to user memory; 0 or <c>-EFAULT</c>.</summary>
    [Linux("arch/x86/include/asm/uaccess.h"), MightSleep]
    int put_user<T>(T x, ulong ptr) where T : unmanaged;
}
