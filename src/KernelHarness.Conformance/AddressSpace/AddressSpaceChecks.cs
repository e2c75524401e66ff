using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using KernelHarness.Reference.AddressSpace;
using KernelHarness.Subsystems;
using static KernelHarness.Kernel;

namespace KernelHarness.Conformance.AddressSpace;

/// <summary>One VMA as a value, for snapshots and comparisons with the shadow model.</summary>
internal readonly record struct VmaView(ulong Start, ulong End, ulong Flags, ulong PgOff, file_t? File)
{
    public static VmaView Of(vm_area_struct v) => new(v.vm_start, v.vm_end, v.vm_flags, v.vm_pgoff, v.vm_file);

    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"[{Start:x}-{End:x}) {Prot(Flags)} pgoff:{PgOff:x}{(File is null ? "" : " " + File.name)}");

    private static string Prot(ulong f) =>
        $"{((f & VM_READ) != 0 ? 'r' : '-')}{((f & VM_WRITE) != 0 ? 'w' : '-')}{((f & VM_EXEC) != 0 ? 'x' : '-')}{((f & VM_SHARED) != 0 ? 's' : 'p')}";
}

/// <summary>What the address-space suites share: a user mm for the test's task, VMA walks, and validate_mm.</summary>
internal static class AddressSpaceChecks
{
    /// <summary>Private anonymous read/write.</summary>
    public const ulong ANON = MAP_PRIVATE | MAP_ANONYMOUS;
    public const ulong RW = PROT_READ | PROT_WRITE;

    /// <summary>A base far from mmap_base and above mmap_min_addr, for MAP_FIXED layouts.</summary>
    public const ulong BASE = 0x10000000;

    /// <summary>mm_alloc() and make the test's task a user of it (exec_mmap): do_mmap works on current.mm.</summary>
    public static mm_struct UserMm(ConformanceContext ctx)
    {
        var a = ctx.Subject<IAddressSpace>();
        var mm = a.mm_alloc();
        ctx.Check(mm is not null, "mm_alloc() in kernel/fork.c returns a new mm_struct", "an mm", "NULL");
        UserTasks.exec_mmap(mm!);
        ctx.Step($"mm_alloc() -> {mm}; current.mm = it");
        return mm!;
    }

    public static ulong P(ulong pages) => pages * PAGE_SIZE;

    public static string Hex(ulong x) => string.Create(CultureInfo.InvariantCulture, $"0x{x:x}");

    public static string Err(ulong r) => IS_ERR_VALUE(r) ? $"-{Errno(-(long)r)}" : Hex(r);

    public static string Errno(long e) => e switch
    {
        ENOMEM => "ENOMEM",
        EINVAL => "EINVAL",
        EEXIST => "EEXIST",
        EOVERFLOW => "EOVERFLOW",
        EACCES => "EACCES",
        _ => e.ToString(CultureInfo.InvariantCulture),
    };

    public static ulong ErrVal(int errno) => unchecked((ulong)(long)-errno);

    /// <summary>do_mmap with a readable step.</summary>
    public static ulong Mmap(ConformanceContext ctx, file_t? file, ulong addr, ulong len, ulong prot, ulong flags, ulong pgoff = 0)
    {
        ulong r = ctx.Subject<IAddressSpace>().do_mmap(file, addr, len, prot, flags, pgoff);
        ctx.Step($"do_mmap({file?.name ?? "NULL"}, {Hex(addr)}, {Hex(len)}, prot {prot}, flags {Hex(flags)}, pgoff {Hex(pgoff)}) = {Err(r)}");
        return r;
    }

    /// <summary>do_mmap that must succeed at exactly <paramref name="addr"/> (MAP_FIXED).</summary>
    public static void MapFixed(ConformanceContext ctx, ulong addr, ulong len, ulong prot = RW, file_t? file = null, ulong pgoff = 0)
    {
        ulong flags = MAP_FIXED | (file is null ? ANON : MAP_PRIVATE);
        ulong r = Mmap(ctx, file, addr, len, prot, flags, pgoff);
        ctx.Equal(Hex(addr), Err(r), $"do_mmap(MAP_FIXED) in mm/mmap.c maps exactly at the address asked for ({Hex(addr)}, {Hex(len)} bytes)");
    }

    public static int Munmap(ConformanceContext ctx, mm_struct mm, ulong start, ulong len)
    {
        int r = ctx.Subject<IAddressSpace>().do_munmap(mm, start, len);
        ctx.Step($"do_munmap({Hex(start)}, {Hex(len)}) = {(r < 0 ? "-" + Errno(-r) : r.ToString(CultureInfo.InvariantCulture))}");
        return r;
    }

    /// <summary>
    /// The VMAs in address order, walked as Linux code does: <c>find_vma(mm, 0)</c>, then
    /// <c>find_vma(mm, vma-&gt;vm_end)</c>. Fails when the walk does not progress.
    /// </summary>
    public static List<VmaView> Walk(ConformanceContext ctx, mm_struct mm)
    {
        var a = ctx.Subject<IAddressSpace>();
        var list = new List<VmaView>();
        ulong addr = 0;
        int limit = mm.map_count + 2;
        for (var v = a.find_vma(mm, 0); v is not null; v = a.find_vma(mm, addr))
        {
            if (v.vm_end <= addr || list.Count > limit + 65536)
                throw ctx.Fail("find_vma(mm, addr) in mm/mmap.c returns the first VMA with vm_end > addr",
                    $"a VMA ending above {Hex(addr)}", v.ToString());
            list.Add(VmaView.Of(v));
            addr = v.vm_end;
        }
        return list;
    }

    public static string Show(IEnumerable<VmaView> vmas)
    {
        var s = string.Join(" ", vmas.Select(v => v.ToString()));
        return s.Length == 0 ? "(no VMAs)" : s;
    }

    /// <summary>
    /// validate_mm (mm/vma.c): VMAs sorted, non-overlapping, non-empty, page aligned, belonging to the
    /// mm; map_count equals their number and total_vm their pages. Returns the walk.
    /// </summary>
    public static List<VmaView> Validate(ConformanceContext ctx, mm_struct mm, bool requireMerged = false)
    {
        var a = ctx.Subject<IAddressSpace>();
        var vmas = Walk(ctx, mm);
        ulong pages = 0;
        for (int i = 0; i < vmas.Count; i++)
        {
            var v = vmas[i];
            ctx.Check(v.Start < v.End && offset_in_page(v.Start) == 0 && offset_in_page(v.End) == 0,
                "validate_mm() in mm/vma.c: every VMA has vm_start < vm_end, both page aligned", "a page-aligned, non-empty VMA", v.ToString());
            if (i > 0)
            {
                ctx.Check(vmas[i - 1].End <= v.Start, "validate_mm() in mm/vma.c: VMAs are sorted and never overlap",
                    "disjoint VMAs in address order", $"{vmas[i - 1]} then {v}");
                if (requireMerged)
                {
                    var p = vmas[i - 1];
                    bool mergeable = p.End == v.Start && p.Flags == v.Flags && ReferenceEquals(p.File, v.File)
                                     && p.PgOff + ((p.End - p.Start) >> PAGE_SHIFT) == v.PgOff;
                    ctx.Check(!mergeable, "vma_merge_new_range() in mm/vma.c: a new mapping merges with an adjacent compatible VMA (same flags, same file, contiguous vm_pgoff)",
                        "adjacent compatible VMAs merged into one", $"{p} and {v} left unmerged");
                }
            }
            var vma = a.find_vma(mm, v.Start);
            ctx.Check(vma is not null && ReferenceEquals(vma.vm_mm, mm), "every VMA's vm_mm is the mm_struct it belongs to",
                mm.name, vma?.vm_mm?.name ?? "null");
            pages += (v.End - v.Start) >> PAGE_SHIFT;
        }
        ctx.Equal(vmas.Count, mm.map_count, "validate_mm() in mm/vma.c: mm->map_count equals the number of VMAs (walked with find_vma)");
        ctx.Equal(pages, mm.total_vm, "mm->total_vm counts the pages of every VMA (vm_stat_account in mm/mmap.c)");
        return vmas;
    }

    /// <summary>Checks the VMAs are exactly <paramref name="expected"/> (start, end, pgoff).</summary>
    public static void Expect(ConformanceContext ctx, mm_struct mm, string rule, params (ulong Start, ulong End, ulong PgOff)[] expected)
    {
        var vmas = Validate(ctx, mm);
        var actual = vmas.Select(v => (v.Start, v.End, v.PgOff)).ToList();
        string Fmt(IEnumerable<(ulong Start, ulong End, ulong PgOff)> l) =>
            string.Join(" ", l.Select(x => string.Create(CultureInfo.InvariantCulture, $"[{x.Start:x}-{x.End:x}) pgoff:{x.PgOff:x}")));
        ctx.Check(actual.SequenceEqual(expected), rule, Fmt(expected), Show(vmas));
    }
}
