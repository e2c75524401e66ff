// A buggy submission: Merging checks flags and file but not that vm_pgoff is contiguous, so file mappings of unrelated offsets merge.
//
// Address spaces: the VMAs of an mm_struct, mmap and munmap (mm/mmap.c, mm/vma.c), and the two
// reference counts of an mm (Documentation/mm/active_mm.rst).
//
// The VMAs of an mm live in a sorted list (mm.mm_mt) ordered by address. Because VMAs never
// overlap, "the first VMA with vm_end > addr" (find_vma) is a binary search over that list.
using System.Collections.Generic;
using KernelHarness;
using KernelHarness.Subsystems;
using static KernelHarness.Kernel;

namespace Student.AddressSpace.MergeIgnoresPgoff;

public sealed class StudentAddressSpace : IAddressSpace
{
    // The top of the mmap area: TASK_SIZE minus a 128 MiB stack gap (arch/x86/mm/mmap.c, no ASLR).
    private const ulong MMAP_BASE = TASK_SIZE - (128UL << 20);

    private mm_struct? kernel_mm;

    // ---- mm_struct lifetime ----

    public void mmap_init() => kernel_mm = new_mm("init_mm");

    public mm_struct init_mm => kernel_mm ??= new_mm("init_mm");

    public mm_struct? mm_alloc() => new_mm("mm");

    private static mm_struct new_mm(string name) => new mm_struct
    {
        mm_mt = new List<vm_area_struct>(),
        mm_users = 1,
        mm_count = 1,
        mmap_base = MMAP_BASE,
        task_size = TASK_SIZE,
        name = name,
    };

    private static List<vm_area_struct> vmas_of(mm_struct mm) => (List<vm_area_struct>)mm.mm_mt!;

    public void mmget(mm_struct mm) => mm.mm_users++;

    public bool mmget_not_zero(mm_struct mm)
    {
        if (mm.mm_users == 0)
            return false;
        mm.mm_users++;
        return true;
    }

    public void mmput(mm_struct mm)
    {
        mm.mm_users--;
        if (mm.mm_users == 0)
        {
            exit_mmap(mm);
            mmdrop(mm);   // the real users' mm_count reference
        }
    }

    private static void exit_mmap(mm_struct mm)
    {
        vmas_of(mm).Clear();
        mm.map_count = 0;
        mm.total_vm = 0;
        mm.torn_down = true;
    }

    public void mmgrab(mm_struct mm) => mm.mm_count++;

    public void mmdrop(mm_struct mm)
    {
        mm.mm_count--;
        if (mm.mm_count == 0)
            mm.freed = true;   // __mmdrop
    }

    // ---- Lookups ----

    // The index of the first VMA with vm_end > addr (vmas.Count when there is none).
    private static int first_ending_above(List<vm_area_struct> vmas, ulong addr)
    {
        int lo = 0, hi = vmas.Count;
        while (lo < hi)
        {
            int mid = (lo + hi) / 2;
            if (vmas[mid].vm_end > addr)
                hi = mid;
            else
                lo = mid + 1;
        }
        return lo;
    }

    public vm_area_struct? find_vma(mm_struct mm, ulong addr)
    {
        var vmas = vmas_of(mm);
        int i = first_ending_above(vmas, addr);
        return i < vmas.Count ? vmas[i] : null;
    }

    public vm_area_struct? find_vma_prev(mm_struct mm, ulong addr, out vm_area_struct? pprev)
    {
        var vmas = vmas_of(mm);
        int i = first_ending_above(vmas, addr);
        pprev = i > 0 ? vmas[i - 1] : null;
        return i < vmas.Count ? vmas[i] : null;
    }

    public vm_area_struct? find_vma_intersection(mm_struct mm, ulong start_addr, ulong end_addr)
    {
        var vma = find_vma(mm, start_addr);
        return vma != null && vma.vm_start < end_addr ? vma : null;
    }

    public vm_area_struct? vma_lookup(mm_struct mm, ulong addr)
    {
        var vma = find_vma(mm, addr);
        return vma != null && vma.vm_start <= addr ? vma : null;
    }

    // ---- The mmap lock: mm->mmap_lock is a sleeping read/write semaphore ----

    public void mmap_read_lock(mm_struct mm) => down_read(mm.mmap_lock);
    public void mmap_read_unlock(mm_struct mm) => up_read(mm.mmap_lock);
    public void mmap_write_lock(mm_struct mm) => down_write(mm.mmap_lock);
    public void mmap_write_unlock(mm_struct mm) => up_write(mm.mmap_lock);

    // ---- get_unmapped_area: top-down from mmap_base ----

    public ulong get_unmapped_area(file_t? file, ulong addr, ulong len, ulong pgoff, ulong flags)
    {
        var mm = current.mm;
        if (mm == null)
            return error(EINVAL);
        return find_area(mm, addr, len, flags);
    }

    private static ulong find_area(mm_struct mm, ulong addr, ulong len, ulong flags)
    {
        if (len > TASK_SIZE || len > TASK_SIZE - MMAP_MIN_ADDR)
            return error(ENOMEM);
        if ((flags & MAP_FIXED) == 0)
        {
            var vmas = vmas_of(mm);
            ulong hint = PAGE_ALIGN(addr);
            if (addr != 0 && hint >= MMAP_MIN_ADDR && hint <= TASK_SIZE - len && is_free(vmas, hint, hint + len))
                addr = hint;
            else
                addr = top_down(vmas, len, mm.mmap_base);
            if (addr == 0)
                return error(ENOMEM);
        }
        if (addr > TASK_SIZE - len)
            return error(ENOMEM);
        if (offset_in_page(addr) != 0)
            return error(EINVAL);
        return addr;
    }

    private static bool is_free(List<vm_area_struct> vmas, ulong start, ulong end)
    {
        int i = first_ending_above(vmas, start);
        return i == vmas.Count || vmas[i].vm_start >= end;
    }

    // The highest gap below mmap_base (and above mmap_min_addr) that fits; 0 when there is none.
    private static ulong top_down(List<vm_area_struct> vmas, ulong len, ulong high)
    {
        ulong gap_end = high;
        int i = first_ending_above(vmas, high - 1);     // the first VMA reaching up to high, if any
        if (i < vmas.Count && vmas[i].vm_start < high)
            gap_end = vmas[i].vm_start;
        for (int j = i - 1; j >= -1; j--)               // the gaps below, from the top down
        {
            ulong gap_start = j >= 0 ? vmas[j].vm_end : 0;
            if (gap_start < MMAP_MIN_ADDR)
                gap_start = MMAP_MIN_ADDR;
            if (gap_end > gap_start && gap_end - gap_start >= len)
                return gap_end - len;
            if (j < 0 || vmas[j].vm_start <= MMAP_MIN_ADDR)
                break;
            gap_end = vmas[j].vm_start;
        }
        return 0;
    }

    // ---- do_mmap ----

    public ulong do_mmap(file_t? file, ulong addr, ulong len, ulong prot, ulong flags, ulong pgoff)
    {
        var mm = current.mm;
        if (mm == null || len == 0)
            return error(EINVAL);
        if ((flags & MAP_FIXED) == 0)
        {
            addr &= PAGE_MASK;                          // round_hint_to_min
            if (addr != 0 && addr < MMAP_MIN_ADDR)
                addr = MMAP_MIN_ADDR;
        }
        len = PAGE_ALIGN(len);
        if (len == 0)
            return error(ENOMEM);
        if (pgoff + (len >> PAGE_SHIFT) < pgoff)
            return error(EOVERFLOW);
        if (mm.map_count > sysctl_max_map_count)      // strictly greater, as Linux
            return error(ENOMEM);
        if ((flags & MAP_FIXED_NOREPLACE) != 0)
            flags |= MAP_FIXED;

        addr = find_area(mm, addr, len, flags);
        if (IS_ERR_VALUE(addr))
            return addr;
        if ((flags & MAP_FIXED_NOREPLACE) != 0 && find_vma_intersection(mm, addr, addr + len) != null)
            return error(EEXIST);

        ulong vm_flags = (prot & (PROT_READ | PROT_WRITE | PROT_EXEC)) | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC;
        switch (flags & MAP_TYPE)
        {
            case MAP_PRIVATE:
                if (file == null)
                    pgoff = addr >> PAGE_SHIFT;   // so that neighbouring anonymous mappings can merge
                break;
            case MAP_SHARED:
                vm_flags |= VM_SHARED | VM_MAYSHARE;
                if (file == null)
                    pgoff = 0;
                break;
            default:
                return error(EINVAL);
        }

        // MAP_FIXED replaces whatever was there.
        if (find_vma_intersection(mm, addr, addr + len) != null)
        {
            int err = do_munmap(mm, addr, len);
            if (err != 0)
                return error(-err);
        }
        map_range(mm, file, addr, addr + len, vm_flags, pgoff);
        mm.total_vm += len >> PAGE_SHIFT;
        return addr;
    }

    private static bool can_merge(vm_area_struct vma, ulong vm_flags, file_t? file) =>
        vma.vm_flags == vm_flags && vma.vm_file == file && (vm_flags & VM_SPECIAL) == 0;

    // Maps [start, end): merges with the VMA ending at start and/or the one starting at end when compatible.
    private static void map_range(mm_struct mm, file_t? file, ulong start, ulong end, ulong vm_flags, ulong pgoff)
    {
        var vmas = vmas_of(mm);
        int i = first_ending_above(vmas, start);          // where the new range goes
        var prev = i > 0 && vmas[i - 1].vm_end == start ? vmas[i - 1] : null;
        var next = i < vmas.Count && vmas[i].vm_start == end ? vmas[i] : null;
        ulong pages = (end - start) >> PAGE_SHIFT;

        bool merge_prev = prev != null && can_merge(prev, vm_flags, file);
        bool merge_next = next != null && can_merge(next, vm_flags, file);
        if (merge_prev && merge_next && (next!.vm_ops?.close != null ||
            (prev!.anon_vma != null && next.anon_vma != null && prev.anon_vma != next.anon_vma)))
            merge_next = false;   // merging both would delete next: not allowed then

        if (merge_prev && merge_next)
        {
            prev!.vm_end = next!.vm_end;
            prev.anon_vma ??= next.anon_vma;
            vmas.RemoveAt(i);
            mm.map_count--;
        }
        else if (merge_prev)
        {
            prev!.vm_end = end;
        }
        else if (merge_next)
        {
            next!.vm_start = start;
            next.vm_pgoff = pgoff;
        }
        else
        {
            vmas.Insert(i, new vm_area_struct
            {
                vm_mm = mm,
                vm_start = start,
                vm_end = end,
                vm_flags = vm_flags,
                vm_page_prot = vm_flags & 0xf,
                vm_pgoff = pgoff,
                vm_file = file,
            });
            mm.map_count++;
        }
    }

    // ---- munmap ----

    public int vm_munmap(ulong start, ulong len)
    {
        var mm = current.mm;
        if (mm == null)
            return -EINVAL;
        mmap_write_lock(mm);
        int err = do_munmap(mm, start, len);
        mmap_write_unlock(mm);
        return err;
    }

    public int do_munmap(mm_struct mm, ulong start, ulong len)
    {
        if (offset_in_page(start) != 0 || start > TASK_SIZE || len > TASK_SIZE - start)
            return -EINVAL;
        len = PAGE_ALIGN(len);
        if (len == 0)
            return -EINVAL;
        ulong end = start + len;

        var vmas = vmas_of(mm);
        int i = first_ending_above(vmas, start);
        if (i == vmas.Count || vmas[i].vm_start >= end)
            return 0;                                   // nothing mapped there

        // Check the limit before changing anything: only a hole in the middle of one VMA adds a VMA.
        var first = vmas[i];
        if (start > first.vm_start && end < first.vm_end && mm.map_count >= sysctl_max_map_count)
            return -ENOMEM;

        if (start > first.vm_start)
        {
            split_vma(mm, vmas, i, start);              // keep [vm_start, start)
            i++;
        }
        while (i < vmas.Count && vmas[i].vm_start < end)
        {
            var vma = vmas[i];
            if (vma.vm_end > end)
                split_vma(mm, vmas, i, end);            // keep [end, vm_end)
            mm.total_vm -= vma.vma_pages();
            mm.map_count--;
            vmas.RemoveAt(i);
            vma.vm_ops?.close?.Invoke(vma);
        }
        return 0;
    }

    // __split_vma: vmas[i] keeps [vm_start, addr); a new VMA after it gets [addr, vm_end) and the matching pgoff.
    private static void split_vma(mm_struct mm, List<vm_area_struct> vmas, int i, ulong addr)
    {
        var vma = vmas[i];
        var upper = new vm_area_struct
        {
            vm_mm = mm,
            vm_start = addr,
            vm_end = vma.vm_end,
            vm_flags = vma.vm_flags,
            vm_page_prot = vma.vm_page_prot,
            vm_pgoff = vma.vm_pgoff + ((addr - vma.vm_start) >> PAGE_SHIFT),
            vm_file = vma.vm_file,
            vm_ops = vma.vm_ops,
            anon_vma = vma.anon_vma,
        };
        vma.vm_end = addr;
        vmas.Insert(i + 1, upper);
        mm.map_count++;
    }

    private static ulong error(int errno) => (ulong)(long)-errno;
}
