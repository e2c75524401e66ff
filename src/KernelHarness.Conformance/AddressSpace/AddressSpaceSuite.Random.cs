using System.Linq;
using KernelHarness.Subsystems;
using static KernelHarness.Conformance.AddressSpace.AddressSpaceChecks;
using static KernelHarness.Kernel;

namespace KernelHarness.Conformance.AddressSpace;

public sealed partial class AddressSpaceSuite
{
    /// <summary>One random operation: mmap (fixed, noreplace, hinted or top-down; anonymous or file) or munmap.</summary>
    private readonly record struct Op(bool Map, file_t? File, ulong Addr, ulong Len, ulong Prot, ulong Flags, ulong PgOff)
    {
        public override string ToString() => Map
            ? $"mmap({File?.name ?? "anon"}, {Hex(Addr)}, {Len >> PAGE_SHIFT}p, prot {Prot}, flags {Hex(Flags)}, pgoff {Hex(PgOff)})"
            : $"munmap({Hex(Addr)}, {Len >> PAGE_SHIFT}p)";
    }

    private static Op RandomOp(ConformanceContext ctx, file_t f, int windowPages)
    {
        ulong page = (ulong)ctx.Next(windowPages);
        ulong addr = BASE + P(page);
        ulong len = P((ulong)ctx.Next(1, 6));
        ulong prot = ctx.Next(4) == 0 ? PROT_READ : RW;
        int kind = ctx.Next(10);
        if (kind < 4)
        {
            ulong unmapLen = P((ulong)ctx.Next(1, 10));
            if (ctx.Next(8) == 0)
                return new Op(false, null, 0, 0, 0, 0, 0); // Fixup: an unmap near mmap_base
            return new Op(false, null, addr, unmapLen, 0, 0, 0);
        }
        if (kind < 6)
        {
            // A file mapping whose pgoff follows the address (so neighbours merge) or not.
            ulong pgoff = ctx.Next(3) == 0 ? (ulong)ctx.Next(64) : page;
            return new Op(true, f, addr, len, prot, MAP_PRIVATE | MAP_FIXED, pgoff);
        }
        if (kind < 8)
            return new Op(true, null, addr, len, prot, ANON | (ctx.Next(3) == 0 ? MAP_FIXED_NOREPLACE : MAP_FIXED), 0);
        if (kind < 9)
            return new Op(true, null, addr, len, prot, ANON, 0); // a hint
        return new Op(true, null, 0, len, prot, ANON, 0);        // top-down
    }

    private static Op Fixup(Op op, mm_struct mm)
    {
        // A munmap with Len 0 stands for "unmap near mmap_base", where top-down mappings live.
        if (!op.Map && op.Len == 0)
            return op with { Addr = mm.mmap_base - P(16), Len = P(8) };
        return op;
    }

    [ConformanceTest("validate_mm() in mm/vma.c after every step of a seeded mmap/munmap sequence: sorted, disjoint, merged where Linux merges, map_count and total_vm exact, each call's effect visible to find_vma", Group = "property", Seed = 11)]
    public void random_mmap_munmap_keeps_validate_mm(ConformanceContext ctx)
    {
        var mm = UserMm(ctx);
        var a = ctx.Subject<IAddressSpace>();
        var f = new file_t("data");
        for (int step = 0; step < 400; step++)
        {
            var op = Fixup(RandomOp(ctx, f, 96), mm);
            if (op.Map)
            {
                ulong r = a.do_mmap(op.File, op.Addr, op.Len, op.Prot, op.Flags, op.PgOff);
                ctx.Step($"op {step}: {op} = {Err(r)}");
                if (!IS_ERR_VALUE(r))
                {
                    if ((op.Flags & MAP_FIXED) != 0)
                        ctx.Equal(Hex(op.Addr), Hex(r), "do_mmap(MAP_FIXED) returns the address asked for");
                    for (ulong p = r; p < r + op.Len; p += PAGE_SIZE)
                    {
                        var v = a.vma_lookup(mm, p);
                        ctx.Check(v is not null && (v.vm_flags & 7) == op.Prot && ReferenceEquals(v.vm_file, op.File),
                            "after a successful do_mmap every page of [addr, addr+len) is mapped with the new protection and file",
                            $"page {Hex(p)} mapped, prot {op.Prot}", v?.ToString() ?? "not mapped");
                    }
                }
                else
                {
                    ctx.Check((op.Flags & MAP_FIXED_NOREPLACE) != 0 && r == ErrVal(EEXIST),
                        "in this sequence do_mmap fails only for MAP_FIXED_NOREPLACE over a mapping (-EEXIST)", "success", Err(r));
                }
            }
            else
            {
                int r = a.do_munmap(mm, op.Addr, op.Len);
                ctx.Step($"op {step}: {op} = {r}");
                ctx.Equal(0, r, "do_munmap of a page-aligned range succeeds");
                ctx.Check(a.find_vma_intersection(mm, op.Addr, op.Addr + op.Len) is null,
                    "after do_munmap nothing in [start, start+len) is mapped", "no VMA in the range", a.find_vma_intersection(mm, op.Addr, op.Addr + op.Len)?.ToString());
            }
            Validate(ctx, mm, requireMerged: true);
        }
    }

    private static void Differential(ConformanceContext ctx, int steps, int windowPages)
    {
        var mm = UserMm(ctx);
        var a = ctx.Subject<IAddressSpace>();
        var model = new ShadowAddressSpace(mm.mmap_base, sysctl_max_map_count);
        var f = new file_t("data");
        for (int step = 0; step < steps; step++)
        {
            var op = Fixup(RandomOp(ctx, f, windowPages), mm);
            if (op.Map)
            {
                ulong expected = model.Mmap(op.File, op.Addr, op.Len, op.Prot, op.Flags, op.PgOff);
                ulong actual = a.do_mmap(op.File, op.Addr, op.Len, op.Prot, op.Flags, op.PgOff);
                ctx.Step($"op {step}: {op} = {Err(actual)}");
                ctx.Equal(Err(expected), Err(actual), $"do_mmap() in mm/mmap.c returns what Linux returns for {op} (map_count was {mm.map_count})");
            }
            else
            {
                int expected = model.Munmap(op.Addr, op.Len);
                int actual = a.do_munmap(mm, op.Addr, op.Len);
                ctx.Step($"op {step}: {op} = {actual}");
                ctx.Equal(expected, actual, $"do_munmap() in mm/vma.c returns what Linux returns for {op}");
            }
            var vmas = Walk(ctx, mm);
            ctx.Check(vmas.SequenceEqual(model.Vmas),
                "after each mmap/munmap the VMAs (ranges, flags, vm_pgoff, file) match a sorted-interval model of mm/mmap.c and mm/vma.c",
                Show(model.Vmas), Show(vmas));
            ctx.Equal(model.Vmas.Count, mm.map_count, "mm->map_count equals the number of VMAs");
            ctx.Equal(model.Vmas.Sum(v => (long)((v.End - v.Start) >> PAGE_SHIFT)), (long)mm.total_vm, "mm->total_vm equals the pages mapped");
        }
    }

    [ConformanceTest("do_mmap()/do_vmi_munmap() in mm/ against a sorted-interval model: a seeded sequence of fixed, hinted and top-down maps, file and anonymous, and unmaps", Group = "differential", Seed = 21)]
    public void random_sequence_matches_interval_model(ConformanceContext ctx) => Differential(ctx, 500, 128);

    [ConformanceTest("do_mmap()/do_vmi_munmap() in mm/ against a sorted-interval model with sysctl_max_map_count = 12: the same errors (ENOMEM) at the limit, and nothing changed by a failure", Group = "differential", Seed = 22, MaxMapCount = 12)]
    public void random_sequence_at_max_map_count_matches_model(ConformanceContext ctx) => Differential(ctx, 500, 160);

    [ConformanceTest("do_mmap() in mm/mmap.c against a model: a long run of top-down anonymous maps and unmaps of random holes (gap search and merging)", Group = "differential", Seed = 23)]
    public void top_down_holes_match_interval_model(ConformanceContext ctx)
    {
        var mm = UserMm(ctx);
        var a = ctx.Subject<IAddressSpace>();
        var model = new ShadowAddressSpace(mm.mmap_base, sysctl_max_map_count);
        for (int step = 0; step < 300; step++)
        {
            if (ctx.Next(3) > 0)
            {
                ulong len = P((ulong)ctx.Next(1, 8));
                ulong prot = ctx.Next(3) == 0 ? PROT_READ : RW;
                ulong expected = model.Mmap(null, 0, len, prot, ANON, 0);
                ulong actual = a.do_mmap(null, 0, len, prot, ANON, 0);
                ctx.Step($"op {step}: mmap(NULL, {len >> PAGE_SHIFT}p, prot {prot}) = {Err(actual)}");
                ctx.Equal(Err(expected), Err(actual), "generic_get_unmapped_area_topdown(): the highest gap below mmap_base that fits");
            }
            else
            {
                ulong start = mm.mmap_base - P((ulong)ctx.Next(1, 200));
                ulong len = P((ulong)ctx.Next(1, 6));
                ctx.Step($"op {step}: munmap({Hex(start)}, {len >> PAGE_SHIFT}p)");
                ctx.Equal(model.Munmap(start, len), a.do_munmap(mm, start, len), "do_munmap() result");
            }
            var vmas = Walk(ctx, mm);
            ctx.Check(vmas.SequenceEqual(model.Vmas), "the VMAs match the interval model after every step", Show(model.Vmas), Show(vmas));
            ctx.Equal(model.Vmas.Count, mm.map_count, "mm->map_count equals the number of VMAs");
        }
    }
}
