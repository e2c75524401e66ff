using System.Collections.Generic;
using KernelHarness.Runtime;
using KernelHarness.Subsystems;
using static KernelHarness.Kernel;

namespace KernelHarness.Reference.AddressSpace;

/// <summary>
/// The reference address space (mm/mmap.c, mm/vma.c, kernel/fork.c, include/linux/sched/mm.h).
/// </summary>
/// <remarks>
/// Invariants (validate_mm in mm/vma.c), true between any two calls:
/// <list type="bullet">
/// <item>the VMAs of an mm (<see cref="VmaTree"/> in <c>mm_mt</c>) are sorted, never overlap, are non-empty and page aligned;</item>
/// <item><c>map_count</c> is the number of VMAs and <c>total_vm</c> the number of pages they cover;</item>
/// <item><c>mm_count</c> is the lazy and explicit (<c>mmgrab</c>) references plus one while <c>mm_users &gt; 0</c>;
/// the VMAs are torn down when <c>mm_users</c> reaches 0 and the mm freed when <c>mm_count</c> does.</item>
/// </list>
/// Guard gaps of stack VMAs (<c>stack_guard_gap</c>) are not modelled. The maximum map count is the
/// machine's <c>sysctl_max_map_count</c>, checked as Linux does: <c>map_count &gt; max</c> (strict) in
/// <c>do_mmap</c>, <c>map_count &gt;= max</c> before a middle split in <c>munmap</c>.
/// </remarks>
public sealed class ReferenceAddressSpace : IAddressSpace
{
    /// <summary>The top of the mmap area without randomisation: <c>TASK_SIZE</c> minus the minimum stack gap (128 MiB, arch/x86/mm/mmap.c).</summary>
    public const ulong DEFAULT_MMAP_BASE = TASK_SIZE - (128UL << 20);

    private mm_struct? initMm;
    private int nextMm;

    private static Machine M => Machine.Current;

    private static VmaTree Tree(mm_struct mm) => mm.mm_mt as VmaTree ?? (VmaTree)(mm.mm_mt = new VmaTree());

    // ---- mm_struct lifetime ----

    public void mmap_init()
    {
        initMm = NewMm("init_mm");
        initMm.mm_users = 2;
    }

    public mm_struct init_mm => initMm ??= NewMm("init_mm");

    public mm_struct? mm_alloc() => NewMm($"mm#{++nextMm}");

    private static mm_struct NewMm(string name) => new()
    {
        mm_mt = new VmaTree(),
        mm_users = 1,
        mm_count = 1,
        mmap_base = DEFAULT_MMAP_BASE,
        task_size = TASK_SIZE,
        name = name,
    };

    public void mmget(mm_struct mm)
    {
        if (mm.mm_users <= 0)
            M.Warn($"mmget: {mm.name} has mm_users {mm.mm_users}: the address space is gone (use mmget_not_zero)", "mmget");
        mm.mm_users++;
    }

    public bool mmget_not_zero(mm_struct mm)
    {
        if (mm.mm_users <= 0)
            return false;
        mm.mm_users++;
        return true;
    }

    public void mmput(mm_struct mm)
    {
        if (mm.mm_users <= 0)
        {
            M.Warn($"mmput: {mm.name} mm_users underflow ({mm.mm_users})", "mmput");
            return;
        }
        if (--mm.mm_users == 0)
        {
            exit_mmap(mm);
            mmdrop(mm);
        }
    }

    /// <summary><c>exit_mmap</c>: removes every VMA (the address space is gone; the mm_struct stays).</summary>
    private static void exit_mmap(mm_struct mm)
    {
        var tree = Tree(mm);
        foreach (var vma in tree.ToList())
            remove_vma(vma);
        tree.Clear();
        mm.map_count = 0;
        mm.total_vm = 0;
        mm.torn_down = true;
    }

    public void mmgrab(mm_struct mm)
    {
        if (mm.freed)
            M.Warn($"mmgrab: {mm.name} was already freed (use-after-free)", "mmgrab");
        mm.mm_count++;
    }

    public void mmdrop(mm_struct mm)
    {
        if (mm.mm_count <= 0)
        {
            M.Warn($"mmdrop: {mm.name} mm_count underflow ({mm.mm_count}): freed twice?", "mmdrop");
            return;
        }
        if (--mm.mm_count == 0)
            __mmdrop(mm);
    }

    private void __mmdrop(mm_struct mm)
    {
        var m = M;
        if (ReferenceEquals(mm, initMm))
            m.Warn("kernel BUG at kernel/fork.c: __mmdrop(&init_mm)", "__mmdrop", ReportKind.Oops);
        var current = m.CurrentTask;
        if (ReferenceEquals(mm, current.mm))
            m.Warn($"__mmdrop: freeing {mm.name}, the mm of the current task {current}", "__mmdrop");
        mm.freed = true;
        mm.pgd = null;
    }

    // ---- Lookups (mm/mmap.c) ----

    public vm_area_struct? find_vma(mm_struct mm, ulong addr) => Tree(mm).Find(addr);

    public vm_area_struct? find_vma_prev(mm_struct mm, ulong addr, out vm_area_struct? pprev)
    {
        var tree = Tree(mm);
        var c = tree.UpperBound(addr);
        var vma = tree.At(c);
        pprev = tree.MovePrev(ref c) ? tree.At(c) : null;
        return vma;
    }

    public vm_area_struct? find_vma_intersection(mm_struct mm, ulong start_addr, ulong end_addr)
    {
        var vma = Tree(mm).Find(start_addr);
        return vma is not null && vma.vm_start < end_addr ? vma : null;
    }

    public vm_area_struct? vma_lookup(mm_struct mm, ulong addr)
    {
        var vma = Tree(mm).Find(addr);
        return vma is not null && vma.vm_start <= addr ? vma : null;
    }

    // ---- The mmap lock ----
    // Straight to the locking subsystem rather than through the facade, which would record this file as the call
    // site: lockdep's reports name the line that called mmap_read_lock (recorded by its own facade call).

    public void mmap_read_lock(mm_struct mm) => M.Locking.down_read(mm.mmap_lock);

    public void mmap_read_unlock(mm_struct mm) => M.Locking.up_read(mm.mmap_lock);

    public void mmap_write_lock(mm_struct mm) => M.Locking.down_write(mm.mmap_lock);

    public void mmap_write_unlock(mm_struct mm) => M.Locking.up_write(mm.mmap_lock);

    // ---- Placement (mm/mmap.c: __get_unmapped_area, generic_get_unmapped_area_topdown) ----

    public ulong get_unmapped_area(file_t? file, ulong addr, ulong len, ulong pgoff, ulong flags)
    {
        var mm = M.CurrentTask.mm;
        if (mm is null)
            return Err(-EINVAL);
        return GetUnmappedArea(mm, addr, len, flags);
    }

    private static ulong GetUnmappedArea(mm_struct mm, ulong addr, ulong len, ulong flags)
    {
        if (len > TASK_SIZE)
            return Err(-ENOMEM);
        addr = TopDown(mm, addr, len, flags);
        if (IS_ERR_VALUE(addr))
            return addr;
        if (addr > TASK_SIZE - len)
            return Err(-ENOMEM);
        if (offset_in_page(addr) != 0)
            return Err(-EINVAL);
        return addr;
    }

    private static ulong TopDown(mm_struct mm, ulong addr, ulong len, ulong flags)
    {
        const ulong mmap_end = TASK_SIZE;
        if (len > mmap_end - MMAP_MIN_ADDR)
            return Err(-ENOMEM);
        if ((flags & MAP_FIXED) != 0)
            return addr;
        var tree = Tree(mm);
        if (addr != 0)
        {
            // A hint is used as is when [addr, addr+len) is free.
            addr = PAGE_ALIGN(addr);
            var c = tree.UpperBound(addr);
            var vma = tree.At(c);
            var prev = tree.MovePrev(ref c) ? tree.At(c) : null;
            if (mmap_end - len >= addr && addr >= MMAP_MIN_ADDR
                && (vma is null || addr + len <= vma.vm_start)
                && (prev is null || addr >= prev.vm_end))
                return addr;
        }
        ulong found = UnmappedAreaTopDown(tree, len, MMAP_MIN_ADDR, mm.mmap_base);
        if (found == 0)
            found = UnmappedAreaBottomUp(tree, len, TASK_UNMAPPED_BASE, mmap_end);
        return found == 0 ? Err(-ENOMEM) : found;
    }

    /// <summary>The highest free range of <paramref name="len"/> bytes inside [low, high), or 0 (vm_unmapped_area, VM_UNMAPPED_AREA_TOPDOWN).</summary>
    private static ulong UnmappedAreaTopDown(VmaTree tree, ulong len, ulong low, ulong high)
    {
        if (high <= low || high - low < len)
            return 0;
        // Start at the VMA that reaches up to or past high, then walk the gaps downwards.
        var c = tree.UpperBound(high - 1);
        ulong gapEnd = high;
        var straddling = tree.At(c);
        if (straddling is not null && straddling.vm_start < high)
            gapEnd = straddling.vm_start;
        bool any = tree.MovePrev(ref c);
        while (true)
        {
            var below = any ? tree.At(c) : null;
            ulong gapStart = below?.vm_end ?? 0;
            if (gapStart < low)
                gapStart = low;
            if (gapEnd > gapStart && gapEnd - gapStart >= len)
                return gapEnd - len;
            if (below is null || below.vm_start <= low)
                return 0;
            gapEnd = below.vm_start;
            any = tree.MovePrev(ref c);
        }
    }

    /// <summary>The lowest free range of <paramref name="len"/> bytes inside [low, high), or 0 (vm_unmapped_area, bottom-up).</summary>
    private static ulong UnmappedAreaBottomUp(VmaTree tree, ulong len, ulong low, ulong high)
    {
        if (high <= low || high - low < len)
            return 0;
        var c = tree.UpperBound(low);
        ulong gapStart = low;
        while (true)
        {
            var vma = tree.At(c);
            ulong gapEnd = vma is null || vma.vm_start > high ? high : vma.vm_start;
            if (gapEnd > gapStart && gapEnd - gapStart >= len)
                return gapStart;
            if (vma is null || vma.vm_end >= high)
                return 0;
            gapStart = vma.vm_end > low ? vma.vm_end : low;
            tree.MoveNext(ref c);
        }
    }

    // ---- do_mmap (mm/mmap.c) ----

    public ulong do_mmap(file_t? file, ulong addr, ulong len, ulong prot, ulong flags, ulong pgoff)
    {
        var m = M;
        var mm = m.CurrentTask.mm;
        if (mm is null)
        {
            m.Warn($"do_mmap: {m.CurrentTask} has no mm (a kernel thread has no user address space)", "do_mmap");
            return Err(-EINVAL);
        }
        if (len == 0)
            return Err(-EINVAL);
        if ((flags & MAP_FIXED) == 0)
            addr = round_hint_to_min(addr);
        len = PAGE_ALIGN(len);
        if (len == 0)
            return Err(-ENOMEM);
        if (pgoff + (len >> PAGE_SHIFT) < pgoff)
            return Err(-EOVERFLOW);
        if (mm.map_count > sysctl_max_map_count) // strictly greater, as Linux
            return Err(-ENOMEM);
        if ((flags & MAP_FIXED_NOREPLACE) != 0)
            flags |= MAP_FIXED;

        addr = GetUnmappedArea(mm, addr, len, flags);
        if (IS_ERR_VALUE(addr))
            return addr;
        if ((flags & MAP_FIXED_NOREPLACE) != 0 && find_vma_intersection(mm, addr, addr + len) is not null)
            return Err(-EEXIST);

        ulong vm_flags = calc_vm_prot_bits(prot) | calc_vm_flag_bits(flags) | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC;
        if (file is not null)
        {
            switch (flags & MAP_TYPE)
            {
                case MAP_SHARED:
                    if ((prot & PROT_WRITE) != 0 && (file.f_mode & FMODE_WRITE) == 0)
                        return Err(-EACCES);
                    vm_flags |= VM_SHARED | VM_MAYSHARE;
                    if ((file.f_mode & FMODE_WRITE) == 0)
                        vm_flags &= ~(VM_MAYWRITE | VM_SHARED);
                    if ((file.f_mode & FMODE_READ) == 0)
                        return Err(-EACCES);
                    break;
                case MAP_PRIVATE:
                    if ((file.f_mode & FMODE_READ) == 0)
                        return Err(-EACCES);
                    break;
                default:
                    return Err(-EINVAL);
            }
        }
        else
        {
            switch (flags & MAP_TYPE)
            {
                case MAP_SHARED:
                    if ((vm_flags & VM_GROWSDOWN) != 0)
                        return Err(-EINVAL);
                    pgoff = 0;
                    vm_flags |= VM_SHARED | VM_MAYSHARE;
                    break;
                case MAP_PRIVATE:
                    pgoff = addr >> PAGE_SHIFT; // lets adjacent anonymous mappings merge
                    break;
                default:
                    return Err(-EINVAL);
            }
        }
        return mmap_region(mm, file, addr, len, vm_flags, pgoff);
    }

    private const ulong FMODE_READ = 0x1;
    private const ulong FMODE_WRITE = 0x2;

    private static ulong round_hint_to_min(ulong hint)
    {
        hint &= PAGE_MASK;
        if (hint != 0 && hint < MMAP_MIN_ADDR)
            return PAGE_ALIGN(MMAP_MIN_ADDR);
        return hint;
    }

    private static ulong calc_vm_prot_bits(ulong prot) =>
        ((prot & PROT_READ) != 0 ? VM_READ : 0) | ((prot & PROT_WRITE) != 0 ? VM_WRITE : 0) | ((prot & PROT_EXEC) != 0 ? VM_EXEC : 0);

    private static ulong calc_vm_flag_bits(ulong flags) => (flags & MAP_GROWSDOWN) != 0 ? VM_GROWSDOWN : 0;

    /// <summary><c>__mmap_region</c> (mm/vma.c): unmap what the range overlaps, then merge with a neighbour or insert a new VMA.</summary>
    private static ulong mmap_region(mm_struct mm, file_t? file, ulong addr, ulong len, ulong vm_flags, ulong pgoff)
    {
        var tree = Tree(mm);
        ulong end = addr + len;
        if (find_vma_intersection_in(tree, addr, end) is not null)
        {
            int err = Munmap(mm, addr, len);
            if (err != 0)
                return Err(err);
        }

        // vma_merge_new_range: prev ends at addr, next starts at end.
        var c = tree.UpperBound(addr);
        var next = tree.At(c);
        if (next is not null && next.vm_start != end)
            next = null;
        var prev = tree.MovePrev(ref c) ? tree.At(c) : null;
        if (prev is not null && prev.vm_end != addr)
            prev = null;
        ulong pages = len >> PAGE_SHIFT;

        bool mergeLeft = prev is not null && IsMergeable(prev, vm_flags, file) && prev.vm_pgoff + prev.vma_pages() == pgoff;
        bool mergeRight = next is not null && IsMergeable(next, vm_flags, file) && pgoff + pages == next.vm_pgoff;
        if (mergeLeft && mergeRight)
        {
            // Merging both deletes next: its anon_vma must be compatible with prev's, and it must have no close().
            bool compatible = prev!.anon_vma is null || next!.anon_vma is null || ReferenceEquals(prev.anon_vma, next.anon_vma);
            if (!compatible || next!.vm_ops?.close is not null)
                mergeRight = false;
        }

        if (mergeLeft && mergeRight)
        {
            ulong oldEnd = prev!.vm_end;
            tree.Remove(next!);
            prev.vm_end = next!.vm_end;
            tree.UpdateEnd(prev, oldEnd);
            prev.anon_vma ??= next.anon_vma;
            mm.map_count--;
        }
        else if (mergeLeft)
        {
            ulong oldEnd = prev!.vm_end;
            prev.vm_end = end;
            tree.UpdateEnd(prev, oldEnd);
        }
        else if (mergeRight)
        {
            next!.vm_start = addr;
            next.vm_pgoff = pgoff;
        }
        else
        {
            var vma = new vm_area_struct
            {
                vm_mm = mm,
                vm_start = addr,
                vm_end = end,
                vm_flags = vm_flags,
                vm_page_prot = vm_flags & (VM_READ | VM_WRITE | VM_EXEC | VM_SHARED),
                vm_pgoff = pgoff,
                vm_file = file,
            };
            tree.Insert(vma);
            mm.map_count++;
        }
        mm.total_vm += pages;
        return addr;
    }

    /// <summary><c>is_mergeable_vma</c> for a new range (which has no anon_vma, no ops): same flags but VM_SOFTDIRTY, same file, nothing special.</summary>
    private static bool IsMergeable(vm_area_struct vma, ulong vm_flags, file_t? file) =>
        ((vma.vm_flags ^ vm_flags) & ~VM_SOFTDIRTY) == 0
        && (vm_flags & VM_SPECIAL) == 0
        && ReferenceEquals(vma.vm_file, file);

    private static vm_area_struct? find_vma_intersection_in(VmaTree tree, ulong start, ulong end)
    {
        var vma = tree.Find(start);
        return vma is not null && vma.vm_start < end ? vma : null;
    }

    // ---- munmap (mm/vma.c: do_vmi_munmap, do_vmi_align_munmap, vms_gather_munmap_vmas) ----

    public int do_munmap(mm_struct mm, ulong start, ulong len) => Munmap(mm, start, len);

    public int vm_munmap(ulong start, ulong len)
    {
        var m = M;
        var mm = m.CurrentTask.mm;
        if (mm is null)
            return -EINVAL;
        mmap_write_lock(mm);
        int ret = Munmap(mm, start, len);
        mmap_write_unlock(mm);
        return ret;
    }

    private static int Munmap(mm_struct mm, ulong start, ulong len)
    {
        if (offset_in_page(start) != 0 || start > TASK_SIZE || len > TASK_SIZE - start)
            return -EINVAL;
        ulong end = start + PAGE_ALIGN(len);
        if (end == start)
            return -EINVAL;
        var tree = Tree(mm);
        var vma = tree.Find(start);
        if (vma is null || vma.vm_start >= end)
            return 0; // nothing mapped there: success

        // Everything that can fail is checked before anything changes: only a split of a VMA that
        // reaches past both ends needs a new VMA that the limit forbids.
        if (start > vma.vm_start && end < vma.vm_end && mm.map_count >= sysctl_max_map_count)
            return -ENOMEM;

        if (start > vma.vm_start)
            vma = split_vma(mm, tree, vma, start); // vma is now the part from start
        // Gather the VMAs that lie in [start, end), trimming the last one at end.
        var doomed = new List<vm_area_struct>();
        for (var v = vma; v is not null && v.vm_start < end; v = tree.Next(v))
        {
            if (v.vm_end > end)
                split_vma(mm, tree, v, end); // v keeps [vm_start, end)
            doomed.Add(v);
        }
        foreach (var v in doomed)
        {
            tree.Remove(v);
            mm.map_count--;
            mm.total_vm -= v.vma_pages();
            remove_vma(v);
        }
        return 0;
    }

    /// <summary>
    /// <c>__split_vma</c>: splits <paramref name="vma"/> at <paramref name="addr"/>; <paramref name="vma"/>
    /// keeps the lower part and the new VMA, returned, gets the upper part with
    /// <c>vm_pgoff += (addr - vm_start) &gt;&gt; PAGE_SHIFT</c>. Never checks the map count (callers do).
    /// </summary>
    private static vm_area_struct split_vma(mm_struct mm, VmaTree tree, vm_area_struct vma, ulong addr)
    {
        var upper = new vm_area_struct
        {
            vm_mm = vma.vm_mm,
            vm_start = addr,
            vm_end = vma.vm_end,
            vm_flags = vma.vm_flags,
            vm_page_prot = vma.vm_page_prot,
            vm_pgoff = vma.vm_pgoff + ((addr - vma.vm_start) >> PAGE_SHIFT),
            vm_file = vma.vm_file,
            vm_ops = vma.vm_ops,
            anon_vma = vma.anon_vma,
        };
        ulong oldEnd = vma.vm_end;
        vma.vm_end = addr;
        tree.UpdateEnd(vma, oldEnd);
        tree.Insert(upper);
        mm.map_count++;
        upper.vm_ops?.open?.Invoke(upper);
        return upper;
    }

    /// <summary><c>remove_vma</c>: the VMA's close() runs; it is gone.</summary>
    private static void remove_vma(vm_area_struct vma) => vma.vm_ops?.close?.Invoke(vma);

    private static ulong Err(int errno) => unchecked((ulong)(long)errno);

    /// <summary>
    /// <c>validate_mm</c> (mm/vma.c) for tests of the reference: the tree's own invariants, page
    /// alignment, <c>map_count</c> and <c>total_vm</c>. Null when everything holds.
    /// </summary>
    internal static string? validate_mm(mm_struct mm)
    {
        var tree = Tree(mm);
        var problem = tree.Validate();
        if (problem is not null)
            return problem;
        ulong pages = 0;
        foreach (var v in tree.ToList())
        {
            if (v.vm_start >= v.vm_end || offset_in_page(v.vm_start) != 0 || offset_in_page(v.vm_end) != 0)
                return $"bad VMA {v}";
            pages += v.vma_pages();
        }
        if (tree.Count != mm.map_count)
            return $"map_count {mm.map_count} but {tree.Count} VMAs";
        return pages != mm.total_vm ? $"total_vm {mm.total_vm} but {pages} pages mapped" : null;
    }
}
