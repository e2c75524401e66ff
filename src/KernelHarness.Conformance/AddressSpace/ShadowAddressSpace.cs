using System.Collections.Generic;
using static KernelHarness.Kernel;

namespace KernelHarness.Conformance.AddressSpace;

/// <summary>
/// A deliberately simple model of an address space for the differential tests (conformance-notes §0.3c):
/// a sorted list of intervals, linear scans, Linux's rules of mm/mmap.c and mm/vma.c for anonymous
/// and file mappings without faults (no anon_vma, no vm_ops): top-down placement from mmap_base,
/// merging on both sides, MAP_FIXED replacement, splits with vm_pgoff, max_map_count checks.
/// </summary>
internal sealed class ShadowAddressSpace
{
    private readonly List<VmaView> vmas = new();
    private readonly ulong mmapBase;
    private readonly int maxMapCount;

    public ShadowAddressSpace(ulong mmapBase, int maxMapCount)
    {
        this.mmapBase = mmapBase;
        this.maxMapCount = maxMapCount;
    }

    public IReadOnlyList<VmaView> Vmas => vmas;

    private static ulong E(int errno) => unchecked((ulong)(long)-errno);

    private bool Overlaps(ulong start, ulong end)
    {
        foreach (var v in vmas)
        {
            if (v.Start < end && v.End > start)
                return true;
        }
        return false;
    }

    public ulong Mmap(file_t? file, ulong addr, ulong len, ulong prot, ulong flags, ulong pgoff)
    {
        if (len == 0)
            return E(EINVAL);
        if ((flags & MAP_FIXED) == 0)
        {
            addr &= PAGE_MASK;
            if (addr != 0 && addr < MMAP_MIN_ADDR)
                addr = MMAP_MIN_ADDR;
        }
        len = PAGE_ALIGN(len);
        if (len == 0)
            return E(ENOMEM);
        if (pgoff + (len >> PAGE_SHIFT) < pgoff)
            return E(EOVERFLOW);
        if (vmas.Count > maxMapCount)
            return E(ENOMEM);
        if ((flags & MAP_FIXED_NOREPLACE) != 0)
            flags |= MAP_FIXED;
        if (len > TASK_SIZE)
            return E(ENOMEM);
        if ((flags & MAP_FIXED) == 0)
        {
            ulong hint = PAGE_ALIGN(addr);
            if (addr != 0 && hint <= TASK_SIZE - len && hint >= MMAP_MIN_ADDR && !Overlaps(hint, hint + len))
                addr = hint;
            else
                addr = TopDown(len);
            if (addr == 0)
                return E(ENOMEM);
        }
        if (addr > TASK_SIZE - len)
            return E(ENOMEM);
        if ((addr & ~PAGE_MASK) != 0)
            return E(EINVAL);
        if ((flags & MAP_FIXED_NOREPLACE) != 0 && Overlaps(addr, addr + len))
            return E(EEXIST);
        ulong vmFlags = (prot & 7) | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC;
        switch (flags & MAP_TYPE)
        {
            case MAP_PRIVATE:
                if (file is null)
                    pgoff = addr >> PAGE_SHIFT;
                break;
            case MAP_SHARED:
                vmFlags |= VM_SHARED | VM_MAYSHARE;
                if (file is null)
                    pgoff = 0;
                break;
            default:
                return E(EINVAL);
        }
        if (Overlaps(addr, addr + len))
        {
            int err = Munmap(addr, len);
            if (err != 0)
                return E(-err);
        }
        Insert(new VmaView(addr, addr + len, vmFlags, pgoff, file));
        return addr;
    }

    private ulong TopDown(ulong len)
    {
        // The highest gap below mmap_base (and above mmap_min_addr) that fits; else bottom-up from TASK_UNMAPPED_BASE.
        ulong gapEnd = mmapBase;
        for (int i = vmas.Count - 1; i >= -1; i--)
        {
            ulong gapStart = i >= 0 ? vmas[i].End : 0;
            if (i >= 0 && vmas[i].Start >= mmapBase)
                continue;
            if (gapStart < MMAP_MIN_ADDR)
                gapStart = MMAP_MIN_ADDR;
            if (gapEnd > gapStart && gapEnd - gapStart >= len)
                return gapEnd - len;
            if (i < 0)
                break;
            gapEnd = vmas[i].Start < gapEnd ? vmas[i].Start : gapEnd;
        }
        ulong start = TASK_UNMAPPED_BASE;
        foreach (var v in vmas)
        {
            if (v.End <= start)
                continue;
            if (v.Start >= start + len)
                return start;
            start = v.End;
        }
        return start + len <= TASK_SIZE ? start : 0;
    }

    private static bool Mergeable(VmaView a, VmaView b) =>
        a.End == b.Start && a.Flags == b.Flags && ReferenceEquals(a.File, b.File) && a.PgOff + ((a.End - a.Start) >> PAGE_SHIFT) == b.PgOff;

    private void Insert(VmaView n)
    {
        int i = 0;
        while (i < vmas.Count && vmas[i].Start < n.Start)
            i++;
        bool left = i > 0 && Mergeable(vmas[i - 1], n);
        bool right = i < vmas.Count && Mergeable(n, vmas[i]);
        if (left && right)
        {
            vmas[i - 1] = vmas[i - 1] with { End = vmas[i].End };
            vmas.RemoveAt(i);
        }
        else if (left)
        {
            vmas[i - 1] = vmas[i - 1] with { End = n.End };
        }
        else if (right)
        {
            vmas[i] = vmas[i] with { Start = n.Start, PgOff = n.PgOff };
        }
        else
        {
            vmas.Insert(i, n);
        }
    }

    public int Munmap(ulong start, ulong len)
    {
        if ((start & ~PAGE_MASK) != 0 || start > TASK_SIZE || len > TASK_SIZE - start)
            return -EINVAL;
        ulong end = start + PAGE_ALIGN(len);
        if (end == start)
            return -EINVAL;
        int first = vmas.FindIndex(v => v.End > start);
        if (first < 0 || vmas[first].Start >= end)
            return 0;
        var f = vmas[first];
        if (start > f.Start && end < f.End && vmas.Count >= maxMapCount)
            return -ENOMEM;
        var result = new List<VmaView>();
        foreach (var v in vmas)
        {
            if (v.End <= start || v.Start >= end)
            {
                result.Add(v);
                continue;
            }
            if (v.Start < start)
                result.Add(v with { End = start });
            if (v.End > end)
                result.Add(v with { Start = end, PgOff = v.PgOff + ((end - v.Start) >> PAGE_SHIFT) });
        }
        vmas.Clear();
        vmas.AddRange(result);
        return 0;
    }
}
