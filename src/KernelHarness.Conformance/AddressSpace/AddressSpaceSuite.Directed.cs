using System.Linq;
using KernelHarness.Subsystems;
using static KernelHarness.Conformance.AddressSpace.AddressSpaceChecks;
using static KernelHarness.Kernel;

namespace KernelHarness.Conformance.AddressSpace;

/// <summary>
/// The address-space suite (conformance-notes.md §3 and §5): directed tests with the exact values of
/// Linux's own tests (tools/testing/vma, selftests/mm/map_fixed_noreplace.c, LTP mmap17, munmap03,
/// munmap04), property and differential tests of random mmap/munmap sequences, and the mm lifetime
/// (mm_users, mm_count, active_mm) on the simulated scheduler.
/// </summary>
[ConformanceSuite("address space")]
public sealed partial class AddressSpaceSuite
{
    // ---- mm_alloc ----

    [ConformanceTest("mm_alloc()/mm_init() in kernel/fork.c: a new mm has mm_users == 1, mm_count == 1 and no VMA", Group = "directed")]
    public void mm_alloc_gives_one_user_one_count_and_no_vma(ConformanceContext ctx)
    {
        var mm = ctx.Subject<IAddressSpace>().mm_alloc()!;
        ctx.Check(mm is not null, "mm_alloc() returns an mm_struct", "an mm", "NULL");
        ctx.Equal(1, mm!.mm_users, "mm_init() sets mm_users to 1");
        ctx.Equal(1, mm.mm_count, "mm_init() sets mm_count to 1");
        ctx.Equal(0, mm.map_count, "a new mm has no VMA (map_count 0)");
        ctx.Equal(TASK_SIZE, mm.task_size, "mm->task_size is TASK_SIZE");
        ctx.Check(mm.mmap_base > TASK_UNMAPPED_BASE && mm.mmap_base <= TASK_SIZE && offset_in_page(mm.mmap_base) == 0,
            "mm->mmap_base (arch_pick_mmap_layout) is a page-aligned address below TASK_SIZE, where top-down searches start",
            $"page aligned, in ({Hex(TASK_UNMAPPED_BASE)}, {Hex(TASK_SIZE)}]", Hex(mm.mmap_base));
        ctx.Check(ctx.Subject<IAddressSpace>().find_vma(mm, 0) is null, "find_vma() on an empty mm returns NULL", "NULL", "a VMA");
    }

    // ---- Lookups (V-2, V-3, V-4) ----

    /// <summary>A [BASE+0x10000, +0x12000) and B [BASE+0x20000, +0x23000).</summary>
    private static mm_struct TwoVmas(ConformanceContext ctx)
    {
        var mm = UserMm(ctx);
        MapFixed(ctx, BASE + 0x10000, 0x2000);
        MapFixed(ctx, BASE + 0x20000, 0x3000);
        return mm;
    }

    [ConformanceTest("find_vma() in mm/mmap.c: the first VMA with vm_end > addr — at vm_start, at vm_end - 1, at vm_end, in a gap, at 0, above the last", Group = "directed")]
    public void find_vma_returns_first_vma_ending_above_addr(ConformanceContext ctx)
    {
        var mm = TwoVmas(ctx);
        var a = ctx.Subject<IAddressSpace>();
        ulong A = BASE + 0x10000, B = BASE + 0x20000;
        void At(ulong addr, ulong? expectedStart, string where)
        {
            var v = a.find_vma(mm, addr);
            ctx.Step($"find_vma({Hex(addr)}) = {v?.ToString() ?? "NULL"}");
            ctx.Equal(expectedStart is null ? "NULL" : Hex(expectedStart.Value), v is null ? "NULL" : Hex(v.vm_start),
                $"find_vma(mm, addr) in mm/mmap.c returns the first VMA with vm_end > addr ({where})");
        }
        At(A, A, "addr == vm_start: that VMA");
        At(A + 0x1fff, A, "addr == vm_end - 1: that VMA");
        At(A + 0x2000, B, "addr == vm_end: the next VMA");
        At(A + 0x5000, B, "addr in the gap between two VMAs: the next VMA, whose vm_start > addr");
        At(0, A, "addr 0: the first VMA");
        At(B + 0x2fff, B, "the last byte of the last VMA");
        At(B + 0x3000, null, "addr above the last VMA: NULL");
        Validate(ctx, mm);
    }

    [ConformanceTest("find_vma_prev() in mm/mmap.c: the same VMA as find_vma, and *pprev the VMA before it (the last VMA when none is above)", Group = "directed")]
    public void find_vma_prev_gives_the_vma_before_the_result(ConformanceContext ctx)
    {
        var mm = TwoVmas(ctx);
        var a = ctx.Subject<IAddressSpace>();
        ulong A = BASE + 0x10000, B = BASE + 0x20000;
        void At(ulong addr, ulong? vmaStart, ulong? prevStart, string where)
        {
            var v = a.find_vma_prev(mm, addr, out var prev);
            ctx.Step($"find_vma_prev({Hex(addr)}) = {v?.ToString() ?? "NULL"}, prev {prev?.ToString() ?? "NULL"}");
            ctx.Equal(vmaStart is null ? "NULL" : Hex(vmaStart.Value), v is null ? "NULL" : Hex(v.vm_start),
                $"find_vma_prev() returns what find_vma() returns ({where})");
            ctx.Equal(prevStart is null ? "NULL" : Hex(prevStart.Value), prev is null ? "NULL" : Hex(prev.vm_start),
                $"find_vma_prev() sets *pprev to the VMA before the result ({where})");
        }
        At(A - 0x1000, A, null, "below every VMA: prev is NULL");
        At(A + 0x1000, A, null, "inside the first VMA: prev is the VMA before it (none), not the VMA itself");
        At(B + 0x1000, B, A, "inside B: prev is A, not B");
        At(A + 0x3000, B, A, "in the gap: the next VMA, prev the one below");
        At(B + 0x5000, null, B, "above every VMA: NULL, prev is the last VMA");
    }

    [ConformanceTest("find_vma_intersection() in mm/mmap.c: the first VMA overlapping [start, end); touching VMAs do not overlap", Group = "directed")]
    public void find_vma_intersection_ignores_touching_vmas(ConformanceContext ctx)
    {
        var mm = TwoVmas(ctx);
        var a = ctx.Subject<IAddressSpace>();
        ulong A = BASE + 0x10000, B = BASE + 0x20000;
        void At(ulong start, ulong end, ulong? expected, string where)
        {
            var v = a.find_vma_intersection(mm, start, end);
            ctx.Step($"find_vma_intersection({Hex(start)}, {Hex(end)}) = {v?.ToString() ?? "NULL"}");
            ctx.Equal(expected is null ? "NULL" : Hex(expected.Value), v is null ? "NULL" : Hex(v.vm_start),
                $"find_vma_intersection(mm, start, end) returns the first VMA overlapping [start, end) ({where})");
        }
        At(A - 0x1000, A, null, "a range ending exactly at vm_start does not overlap");
        At(A + 0x2000, B, null, "a range starting exactly at vm_end, ending at the next vm_start, overlaps nothing");
        At(A - 0x1000, A + 0x1000, A, "a range overlapping the start of A");
        At(A + 0x1000, B + 0x1000, A, "a range over A's end and B's start: the first, A");
        At(A + 0x5000, B + 0x1000, B, "a range from a gap into B");
        At(B + 0x3000, B + 0x9000, null, "a range above every VMA");
    }

    [ConformanceTest("vma_lookup() in include/linux/mm.h: the VMA containing addr, NULL in a gap", Group = "directed")]
    public void vma_lookup_returns_only_the_containing_vma(ConformanceContext ctx)
    {
        var mm = TwoVmas(ctx);
        var a = ctx.Subject<IAddressSpace>();
        ulong A = BASE + 0x10000, B = BASE + 0x20000;
        ctx.Equal(Hex(A), a.vma_lookup(mm, A + 0x1000) is { } v1 ? Hex(v1.vm_start) : "NULL", "vma_lookup() returns the VMA containing addr");
        ctx.Equal("NULL", a.vma_lookup(mm, A + 0x2000) is { } v2 ? Hex(v2.vm_start) : "NULL", "vma_lookup() returns NULL for an address in a gap (vm_end is exclusive)");
        ctx.Equal("NULL", a.vma_lookup(mm, B + 0x3000) is { } v3 ? Hex(v3.vm_start) : "NULL", "vma_lookup() returns NULL above the last VMA");
    }

    // ---- Merging (V-7), tools/testing/vma ----

    [ConformanceTest("test_simple_merge (tools/testing/vma): [0,0x1000) pgoff 0 and [0x2000,0x3000) pgoff 2, then [0x1000,0x2000) pgoff 1 gives one VMA [0,0x3000) pgoff 0", Group = "directed")]
    public void test_simple_merge(ConformanceContext ctx)
    {
        var mm = UserMm(ctx);
        var f = new file_t("simple_merge");
        MapFixed(ctx, BASE + 0x0000, 0x1000, RW, f, 0);
        MapFixed(ctx, BASE + 0x2000, 0x1000, RW, f, 2);
        MapFixed(ctx, BASE + 0x1000, 0x1000, RW, f, 1);
        Expect(ctx, mm, "vma_merge_new_range() in mm/vma.c merges a new range with both neighbours when flags, file and pgoff line up",
            (BASE, BASE + 0x3000, 0));
    }

    [ConformanceTest("test_merge_new (tools/testing/vma): the seven merges of A [0,0x2000), B [0x3000,0x4000), C [0xb000,0xc000) with exact map_count", Group = "directed")]
    public void test_merge_new(ConformanceContext ctx)
    {
        var mm = UserMm(ctx);
        var f = new file_t("merge_new");
        void Map(ulong start, ulong end) => MapFixed(ctx, BASE + start, end - start, RW, f, start >> PAGE_SHIFT);
        Map(0x0000, 0x2000);
        Map(0x3000, 0x4000);
        Map(0xb000, 0xc000);
        Expect(ctx, mm, "three separate VMAs", (BASE, BASE + 0x2000, 0), (BASE + 0x3000, BASE + 0x4000, 3), (BASE + 0xb000, BASE + 0xc000, 0xb));

        Map(0x7000, 0x9000);
        ctx.Equal(4, mm.map_count, "test_merge_new step 1: [0x7000,0x9000) has no neighbour: no merge, map_count 4");
        Map(0x2000, 0x3000);
        Expect(ctx, mm, "test_merge_new step 2: [0x2000,0x3000) merges A and B (B deleted): A = [0,0x4000), map_count 3",
            (BASE, BASE + 0x4000, 0), (BASE + 0x7000, BASE + 0x9000, 7), (BASE + 0xb000, BASE + 0xc000, 0xb));
        Map(0x4000, 0x5000);
        Expect(ctx, mm, "test_merge_new step 3: [0x4000,0x5000) extends A (merge with prev)",
            (BASE, BASE + 0x5000, 0), (BASE + 0x7000, BASE + 0x9000, 7), (BASE + 0xb000, BASE + 0xc000, 0xb));
        Map(0x6000, 0x7000);
        Expect(ctx, mm, "test_merge_new step 4: [0x6000,0x7000) prepends to D: D = [0x6000,0x9000) with pgoff 6 (next's vm_start and vm_pgoff move down)",
            (BASE, BASE + 0x5000, 0), (BASE + 0x6000, BASE + 0x9000, 6), (BASE + 0xb000, BASE + 0xc000, 0xb));
        Map(0x5000, 0x6000);
        Expect(ctx, mm, "test_merge_new step 5: [0x5000,0x6000) merges A and D: [0,0x9000), map_count 2",
            (BASE, BASE + 0x9000, 0), (BASE + 0xb000, BASE + 0xc000, 0xb));
        Map(0xa000, 0xb000);
        Expect(ctx, mm, "test_merge_new step 6: [0xa000,0xb000) prepends to C: [0xa000,0xc000) pgoff 0xa",
            (BASE, BASE + 0x9000, 0), (BASE + 0xa000, BASE + 0xc000, 0xa));
        Map(0x9000, 0xa000);
        Expect(ctx, mm, "test_merge_new step 7: [0x9000,0xa000) leaves a single VMA [0,0xc000), map_count 1", (BASE, BASE + 0xc000, 0));
    }

    [ConformanceTest("test_mmap_region_basic (tools/testing/vma/tests/mmap.c): anonymous maps at 0x300000, 0x250000, 0x303000, 0x24d000 leave 2 VMAs", Group = "directed")]
    public void test_mmap_region_basic(ConformanceContext ctx)
    {
        var mm = UserMm(ctx);
        MapFixed(ctx, 0x300000, 0x3000);
        MapFixed(ctx, 0x250000, 0x3000);
        MapFixed(ctx, 0x303000, 0x3000);
        Expect(ctx, mm, "__mmap_region(): 0x303000 merges into [0x300000,0x306000) pgoff 0x300 (private anonymous pgoff is addr >> PAGE_SHIFT)",
            (0x250000, 0x253000, 0x250), (0x300000, 0x306000, 0x300));
        MapFixed(ctx, 0x24d000, 0x3000);
        Expect(ctx, mm, "__mmap_region(): 0x24d000 prepends to [0x24d000,0x253000) pgoff 0x24d; map_count 2",
            (0x24d000, 0x253000, 0x24d), (0x300000, 0x306000, 0x300));
    }

    [ConformanceTest("is_mergeable_vma()/can_vma_merge_after() in mm/vma.c: VMAs with different flags do not merge", Group = "directed")]
    public void merge_refused_when_flags_differ(ConformanceContext ctx)
    {
        var mm = UserMm(ctx);
        MapFixed(ctx, BASE, 0x2000, PROT_READ);
        MapFixed(ctx, BASE + 0x2000, 0x2000, RW);
        MapFixed(ctx, BASE + 0x4000, 0x1000, PROT_READ);
        Expect(ctx, mm, "adjacent anonymous VMAs whose vm_flags differ (PROT_READ vs PROT_READ|PROT_WRITE) stay separate",
            (BASE, BASE + 0x2000, BASE >> PAGE_SHIFT), (BASE + 0x2000, BASE + 0x4000, (BASE + 0x2000) >> PAGE_SHIFT), (BASE + 0x4000, BASE + 0x5000, (BASE + 0x4000) >> PAGE_SHIFT));
    }

    [ConformanceTest("is_mergeable_vma() in mm/vma.c: VMAs of different files, or a file and anonymous memory, do not merge", Group = "directed")]
    public void merge_refused_when_file_differs(ConformanceContext ctx)
    {
        var mm = UserMm(ctx);
        var f = new file_t("f");
        var g = new file_t("g");
        MapFixed(ctx, BASE, 0x1000, RW, f, 0);
        MapFixed(ctx, BASE + 0x1000, 0x1000, RW, g, 1);
        MapFixed(ctx, BASE + 0x2000, 0x1000, RW, null);
        Expect(ctx, mm, "a mapping of file g next to one of file f, and anonymous memory next to g, stay separate",
            (BASE, BASE + 0x1000, 0), (BASE + 0x1000, BASE + 0x2000, 1), (BASE + 0x2000, BASE + 0x3000, (BASE + 0x2000) >> PAGE_SHIFT));
    }

    [ConformanceTest("can_vma_merge_after()/can_vma_merge_before() in mm/vma.c: file VMAs merge only when vm_pgoff is contiguous", Group = "directed")]
    public void merge_refused_when_pgoff_not_contiguous(ConformanceContext ctx)
    {
        var mm = UserMm(ctx);
        var f = new file_t("f");
        MapFixed(ctx, BASE, 0x2000, RW, f, 0);
        MapFixed(ctx, BASE + 0x2000, 0x1000, RW, f, 5);
        Expect(ctx, mm, "prev->vm_pgoff + vma_pages(prev) must equal the new pgoff: [0,2) then pgoff 5 stays separate",
            (BASE, BASE + 0x2000, 0), (BASE + 0x2000, BASE + 0x3000, 5));
        MapFixed(ctx, BASE + 0x3000, 0x1000, RW, f, 3);
        Expect(ctx, mm, "the new pgoff + its pages must equal next->vm_pgoff, and prev's pgoff must line up: pgoff 3 after pgoff 5 stays separate",
            (BASE, BASE + 0x2000, 0), (BASE + 0x2000, BASE + 0x3000, 5), (BASE + 0x3000, BASE + 0x4000, 3));
        MapFixed(ctx, BASE + 0x5000, 0x1000, RW, f, 9);
        MapFixed(ctx, BASE + 0x4000, 0x1000, RW, f, 4);
        Expect(ctx, mm, "pgoff 4 at 0x4000 continues [0x3000) pgoff 3 but not pgoff 9 at 0x5000: merge with prev only",
            (BASE, BASE + 0x2000, 0), (BASE + 0x2000, BASE + 0x3000, 5), (BASE + 0x3000, BASE + 0x5000, 3), (BASE + 0x5000, BASE + 0x6000, 9));
    }

    // ---- MAP_FIXED, MAP_FIXED_NOREPLACE (V-5) ----

    [ConformanceTest("mmap_region() in mm/mmap.c: MAP_FIXED over the middle of a VMA replaces it: the old VMA is split around the new one", Group = "directed")]
    public void map_fixed_replaces_the_middle_of_one_vma(ConformanceContext ctx)
    {
        var mm = UserMm(ctx);
        var f = new file_t("f");
        MapFixed(ctx, BASE, 0x5000, RW, f, 0x10);
        MapFixed(ctx, BASE + 0x1000, 0x2000, PROT_READ, null);
        Expect(ctx, mm, "the overlapped part is unmapped (the upper remainder's vm_pgoff advances by 3 pages), then the new VMA mapped",
            (BASE, BASE + 0x1000, 0x10), (BASE + 0x1000, BASE + 0x3000, (BASE + 0x1000) >> PAGE_SHIFT), (BASE + 0x3000, BASE + 0x5000, 0x13));
    }

    [ConformanceTest("mmap_region() in mm/mmap.c: MAP_FIXED over several VMAs and holes removes the covered ones and trims the ends", Group = "directed")]
    public void map_fixed_replaces_several_vmas(ConformanceContext ctx)
    {
        var mm = UserMm(ctx);
        var f = new file_t("f");
        MapFixed(ctx, BASE, 0x3000, RW, f, 0);
        MapFixed(ctx, BASE + 0x4000, 0x2000, PROT_READ, f, 4);
        MapFixed(ctx, BASE + 0x7000, 0x3000, RW, f, 7);
        ctx.Equal(3, mm.map_count, "three VMAs before the MAP_FIXED mapping");
        MapFixed(ctx, BASE + 0x2000, 0x6000, PROT_EXEC, null);
        Expect(ctx, mm, "[0x2000,0x8000) trims the first VMA, removes the second, and trims the third (its vm_pgoff advances to 8)",
            (BASE, BASE + 0x2000, 0), (BASE + 0x2000, BASE + 0x8000, (BASE + 0x2000) >> PAGE_SHIFT), (BASE + 0x8000, BASE + 0xa000, 8));
    }

    [ConformanceTest("map_fixed_noreplace.c (selftests/mm): MAP_FIXED_NOREPLACE fails with -EEXIST over any mapped page and succeeds next to them", Group = "directed")]
    public void map_fixed_noreplace(ConformanceContext ctx)
    {
        var mm = UserMm(ctx);
        ulong size = P(5);
        ulong b = BASE;
        const ulong NOREPLACE = MAP_FIXED_NOREPLACE | ANON;
        ulong r = Mmap(ctx, null, b + P(1), P(3), RW, NOREPLACE);
        ctx.Equal(Hex(b + P(1)), Err(r), "MAP_FIXED_NOREPLACE on free pages maps exactly there (pages +1..+3)");
        var before = Validate(ctx, mm);
        void Fails(ulong addr, ulong len, string what)
        {
            ulong x = Mmap(ctx, null, addr, len, RW, NOREPLACE);
            ctx.Equal("-EEXIST", Err(x), $"do_mmap() in mm/mmap.c: MAP_FIXED_NOREPLACE over a mapped page gives -EEXIST ({what})");
            ctx.Check(Validate(ctx, mm).SequenceEqual(before), "a failed MAP_FIXED_NOREPLACE leaves the address space unchanged", Show(before), Show(Walk(ctx, mm)));
        }
        Fails(b, size, "exactly the same 5 pages");
        Fails(b + P(2), P(1), "page +2 alone, inside the mapping");
        Fails(b + P(3), P(2), "pages +3..+4, overlapping the end");
        Fails(b, P(2), "pages +0..+1, overlapping the start");
        r = Mmap(ctx, null, b, P(1), RW, NOREPLACE);
        ctx.Equal(Hex(b), Err(r), "MAP_FIXED_NOREPLACE of page +0 (adjacent below) succeeds");
        r = Mmap(ctx, null, b + P(4), P(1), RW, NOREPLACE);
        ctx.Equal(Hex(b + P(4)), Err(r), "MAP_FIXED_NOREPLACE of page +4 (adjacent above) succeeds");
        ctx.Equal(0, Munmap(ctx, mm, b, size), "munmap(base, 5 pages) succeeds across every VMA");
        ctx.Equal(0, Validate(ctx, mm).Count, "nothing is left mapped after munmap(base, 5 pages)");
    }

    [ConformanceTest("mmap17 (LTP) / do_mmap() in mm/mmap.c: MAP_FIXED_NOREPLACE over an existing mapping gives EEXIST", Group = "directed")]
    public void mmap17_fixed_noreplace_over_mapping_is_eexist(ConformanceContext ctx)
    {
        var mm = UserMm(ctx);
        ulong addr = Mmap(ctx, null, 0, P(4), RW, ANON);
        ctx.Check(!IS_ERR_VALUE(addr), "an anonymous mmap in an empty mm succeeds", "an address", Err(addr));
        ulong r = Mmap(ctx, null, addr, P(4), PROT_READ, MAP_FIXED_NOREPLACE | ANON);
        ctx.Equal("-EEXIST", Err(r), "MAP_FIXED_NOREPLACE over an existing mapping fails with EEXIST");
        var v = Validate(ctx, mm);
        ctx.Check(v.Count == 1 && v[0].Flags == ctx.Subject<IAddressSpace>().find_vma(mm, addr)!.vm_flags && (v[0].Flags & VM_WRITE) != 0,
            "the existing mapping is untouched by the failed MAP_FIXED_NOREPLACE", "one writable VMA", Show(v));
    }

    [ConformanceTest("do_mmap() in mm/mmap.c: len 0 is -EINVAL, a length that rounds to 0 is -ENOMEM, pgoff overflow is -EOVERFLOW, MAP_FIXED misaligned is -EINVAL, beyond TASK_SIZE is -ENOMEM", Group = "directed")]
    public void do_mmap_rejects_bad_arguments_as_linux(ConformanceContext ctx)
    {
        var mm = UserMm(ctx);
        var f = new file_t("f");
        ctx.Equal("-EINVAL", Err(Mmap(ctx, null, 0, 0, RW, ANON)), "do_mmap(): len == 0 gives -EINVAL");
        ctx.Equal("-ENOMEM", Err(Mmap(ctx, null, 0, ulong.MaxValue - 100, RW, ANON)), "do_mmap(): PAGE_ALIGN(len) overflowing to 0 gives -ENOMEM");
        ctx.Equal("-EOVERFLOW", Err(Mmap(ctx, f, 0, P(4), RW, MAP_PRIVATE, ulong.MaxValue - 1)), "do_mmap(): pgoff + (len >> PAGE_SHIFT) wrapping gives -EOVERFLOW");
        ctx.Equal("-EINVAL", Err(Mmap(ctx, null, BASE + 0x123, P(1), RW, ANON | MAP_FIXED)), "do_mmap(): MAP_FIXED with an address that is not page aligned gives -EINVAL");
        ctx.Equal("-ENOMEM", Err(Mmap(ctx, null, TASK_SIZE - P(1), P(2), RW, ANON | MAP_FIXED)), "do_mmap(): addr > TASK_SIZE - len gives -ENOMEM");
        ctx.Equal("-ENOMEM", Err(Mmap(ctx, null, 0, TASK_SIZE + P(1), RW, ANON)), "do_mmap(): len > TASK_SIZE gives -ENOMEM");
        ctx.Equal("-EINVAL", Err(Mmap(ctx, null, 0, P(1), RW, MAP_ANONYMOUS)), "do_mmap(): neither MAP_SHARED nor MAP_PRIVATE gives -EINVAL");
        ctx.Equal(0, Validate(ctx, mm).Count, "failed do_mmap calls map nothing");
    }

    // ---- munmap (V-9, V-10) ----

    [ConformanceTest("munmap03 (LTP) / do_vmi_munmap() in mm/vma.c: misaligned start, len 0, and ranges outside the address space give EINVAL; an empty range gives 0", Group = "directed")]
    public void munmap03_invalid_ranges_are_einval(ConformanceContext ctx)
    {
        var mm = UserMm(ctx);
        MapFixed(ctx, BASE, P(2));
        ctx.Equal(-EINVAL, Munmap(ctx, mm, BASE + 1, P(1)), "munmap(): a start that is not page aligned gives -EINVAL");
        ctx.Equal(-EINVAL, Munmap(ctx, mm, BASE, 0), "munmap(): len 0 gives -EINVAL");
        ctx.Equal(-EINVAL, Munmap(ctx, mm, TASK_SIZE + P(1), P(1)), "munmap(): start > TASK_SIZE (outside the address space) gives -EINVAL");
        ctx.Equal(-EINVAL, Munmap(ctx, mm, BASE, TASK_SIZE), "munmap(): len > TASK_SIZE - start gives -EINVAL");
        ctx.Equal(0, Munmap(ctx, mm, BASE + P(8), P(4)), "munmap() of a range with no VMA succeeds (returns 0)");
        Expect(ctx, mm, "failed and empty munmaps change nothing", (BASE, BASE + P(2), BASE >> PAGE_SHIFT));
    }

    [ConformanceTest("vms_gather_munmap_vmas()/__split_vma() in mm/vma.c: unmapping the middle of a VMA splits it; the upper part's vm_pgoff advances", Group = "directed")]
    public void munmap_middle_splits_and_keeps_pgoff(ConformanceContext ctx)
    {
        var mm = UserMm(ctx);
        var f = new file_t("f");
        MapFixed(ctx, BASE, P(5), RW, f, 0x10);
        ctx.Equal(0, Munmap(ctx, mm, BASE + P(2), P(1)), "munmap() of the middle page succeeds");
        Expect(ctx, mm, "__split_vma(): two VMAs, the upper with vm_pgoff = 0x10 + 3; map_count +1",
            (BASE, BASE + P(2), 0x10), (BASE + P(3), BASE + P(5), 0x13));
    }

    [ConformanceTest("do_vmi_align_munmap() in mm/vma.c: unmapping an edge trims the VMA (the front trim advances vm_pgoff); map_count unchanged", Group = "directed")]
    public void munmap_edges_trim(ConformanceContext ctx)
    {
        var mm = UserMm(ctx);
        var f = new file_t("f");
        MapFixed(ctx, BASE, P(6), RW, f, 0x20);
        ctx.Equal(0, Munmap(ctx, mm, BASE, P(2)), "munmap() of the first two pages succeeds");
        Expect(ctx, mm, "trimming the front: [+2,+6) with vm_pgoff 0x22", (BASE + P(2), BASE + P(6), 0x22));
        ctx.Equal(0, Munmap(ctx, mm, BASE + P(5), P(1)), "munmap() of the last page succeeds");
        Expect(ctx, mm, "trimming the back: [+2,+5) with vm_pgoff 0x22", (BASE + P(2), BASE + P(5), 0x22));
        ctx.Equal(0, Munmap(ctx, mm, BASE + P(4), P(3)), "munmap() over the end and beyond succeeds");
        Expect(ctx, mm, "trimming over the end: [+2,+4)", (BASE + P(2), BASE + P(4), 0x22));
    }

    [ConformanceTest("vms_gather_munmap_vmas() in mm/vma.c: an unmap spanning several VMAs and holes removes the covered ones and trims both ends", Group = "directed")]
    public void munmap_spanning_several_vmas(ConformanceContext ctx)
    {
        var mm = UserMm(ctx);
        var f = new file_t("f");
        MapFixed(ctx, BASE, P(4), RW, f, 0);
        MapFixed(ctx, BASE + P(5), P(2), PROT_READ, f, 5);
        MapFixed(ctx, BASE + P(8), P(1), RW, f, 8);
        MapFixed(ctx, BASE + P(10), P(4), RW, f, 10);
        ctx.Equal(0, Munmap(ctx, mm, BASE + P(2), P(10)), "munmap() of [+2,+12) succeeds");
        Expect(ctx, mm, "[+2,+12): first trimmed to [0,+2), the two middle ones removed, the last trimmed to [+12,+14) with vm_pgoff 12",
            (BASE, BASE + P(2), 0), (BASE + P(12), BASE + P(14), 12));
        ctx.Equal(0, Munmap(ctx, mm, BASE - P(4), P(40)), "munmap() of a range covering everything succeeds");
        Expect(ctx, mm, "nothing left");
    }

    [ConformanceTest("munmap04 (LTP) / do_mmap() and vms_gather_munmap_vmas() in mm/: at max_map_count, mmap fails after one more (strict '>'), a middle munmap fails with ENOMEM and changes nothing, edge trims and whole removals succeed", Group = "directed", MaxMapCount = 64)]
    public void munmap04_max_map_count(ConformanceContext ctx)
    {
        var mm = UserMm(ctx);
        int max = sysctl_max_map_count;
        ctx.Equal(64, max, "the test runs with sysctl_max_map_count = 64 (as LTP munmap04 writes /proc/sys/vm/max_map_count)");
        var maps = new System.Collections.Generic.List<ulong>();
        ulong r = 0;
        for (int i = 0; i < max + 10; i++)
        {
            // Non-adjacent 3-page PROT_NONE mappings: one free page between them, so nothing merges.
            r = Mmap(ctx, null, BASE + P(4 * (ulong)i), P(3), PROT_NONE, ANON | MAP_FIXED_NOREPLACE);
            if (IS_ERR_VALUE(r))
                break;
            maps.Add(r);
        }
        ctx.Equal("-ENOMEM", Err(r), "do_mmap() fails with -ENOMEM once mm->map_count > sysctl_max_map_count");
        ctx.Equal(max + 1, mm.map_count,
            "do_mmap() checks map_count > sysctl_max_map_count (strictly greater): at map_count == max one more mapping succeeds, the next fails");
        var before = Validate(ctx, mm);

        ctx.Equal(-ENOMEM, Munmap(ctx, mm, maps[2] + P(1), P(1)),
            "munmap04: munmap() of the middle page of a 3-page VMA at the limit needs a split and fails with ENOMEM");
        ctx.Check(Validate(ctx, mm).SequenceEqual(before), "a munmap that fails with -ENOMEM changes nothing (the check comes before any split)",
            Show(before.Skip(0).Take(4)) + " ...", Show(Walk(ctx, mm).Take(4)) + " ...");
        ulong mid = maps[5] + P(1);
        ulong fixedR = Mmap(ctx, null, mid, P(1), PROT_READ, ANON | MAP_FIXED);
        ctx.Equal("-ENOMEM", Err(fixedR), "MAP_FIXED over the middle of a VMA at the limit fails (do_mmap's map_count check, then the split's)");
        ctx.Check(Validate(ctx, mm).SequenceEqual(before), "a failed MAP_FIXED mmap changes nothing", Show(before.Take(4)) + " ...", Show(Walk(ctx, mm).Take(4)) + " ...");

        ctx.Equal(0, Munmap(ctx, mm, maps[3], P(1)), "at the limit, trimming the front of a VMA needs no new VMA and succeeds");
        ctx.Equal(max + 1, mm.map_count, "an edge trim leaves map_count unchanged");
        ctx.Equal(0, Munmap(ctx, mm, maps[4], P(3)), "at the limit, removing a whole VMA succeeds");
        ctx.Equal(max, mm.map_count, "removing a whole VMA lowers map_count by one");
        Validate(ctx, mm);
    }

    // ---- Placement (V-6) ----

    [ConformanceTest("generic_get_unmapped_area_topdown() in mm/mmap.c: the first mmap is at mmap_base - len, the next stack below and merge, a freed hole high up is found first", Group = "directed")]
    public void top_down_placement_from_mmap_base(ConformanceContext ctx)
    {
        var mm = UserMm(ctx);
        ulong top = mm.mmap_base;
        ulong a1 = Mmap(ctx, null, 0, P(4), RW, ANON);
        ctx.Equal(Hex(top - P(4)), Err(a1), "the first anonymous mmap in an empty mm returns mmap_base - len");
        ulong a2 = Mmap(ctx, null, 0, P(2), RW, ANON);
        ctx.Equal(Hex(top - P(6)), Err(a2), "the next mmap is placed directly below the previous one (the highest gap that fits)");
        Expect(ctx, mm, "two adjacent compatible anonymous mappings placed top-down merge into one VMA", (top - P(6), top, (top - P(6)) >> PAGE_SHIFT));
        ulong a3 = Mmap(ctx, null, 0, P(3), PROT_READ, ANON);
        ctx.Equal(Hex(top - P(9)), Err(a3), "a read-only mapping stacks below too (and stays a separate VMA)");
        ctx.Equal(0, Munmap(ctx, mm, top - P(3), P(2)), "unmap a 2-page hole high up");
        ulong a4 = Mmap(ctx, null, 0, P(2), PROT_READ | PROT_EXEC, ANON);
        ctx.Equal(Hex(top - P(3)), Err(a4), "top-down search finds the highest hole that fits before lower free space");
        ulong a5 = Mmap(ctx, null, 0, P(3), PROT_READ | PROT_EXEC, ANON);
        ctx.Equal(Hex(top - P(12)), Err(a5), "a request too big for the hole goes below everything");
        Validate(ctx, mm);
    }

    [ConformanceTest("generic_get_unmapped_area_topdown() / round_hint_to_min() in mm/mmap.c: a free hint is used as is, an occupied one is ignored, a low one is raised to mmap_min_addr", Group = "directed")]
    public void hint_is_honoured_when_free(ConformanceContext ctx)
    {
        var mm = UserMm(ctx);
        ulong hint = BASE + P(100);
        ulong r = Mmap(ctx, null, hint, P(2), RW, ANON);
        ctx.Equal(Hex(hint), Err(r), "a page-aligned hint whose range is free is used as is");
        ulong r2 = Mmap(ctx, null, hint + P(1) + 0x10, P(2), PROT_READ, ANON);
        ctx.Equal(Hex(mm.mmap_base - P(2)), Err(r2), "a hint overlapping a mapping is ignored: the top-down search places it at mmap_base - len");
        ulong r3 = Mmap(ctx, null, hint + P(2) + 0x10, P(1), PROT_READ, ANON);
        ctx.Equal(Hex(hint + P(2)), Err(r3), "a misaligned hint is rounded down to a page (hint &= PAGE_MASK) and used when free");
        ulong r4 = Mmap(ctx, null, 0x1000, P(1), PROT_READ, ANON);
        ctx.Equal(Hex(MMAP_MIN_ADDR), Err(r4), "round_hint_to_min(): a hint below mmap_min_addr is raised to mmap_min_addr");
        Validate(ctx, mm);
    }

    [ConformanceTest("vm_munmap() in mm/mmap.c: unmaps a range of current->mm under the mmap write lock", Group = "directed")]
    public void vm_munmap_unmaps_current_mm(ConformanceContext ctx)
    {
        var mm = UserMm(ctx);
        var a = ctx.Subject<IAddressSpace>();
        MapFixed(ctx, BASE, P(3));
        ctx.Equal(0, a.vm_munmap(BASE + P(1), P(1)), "vm_munmap() of the middle page succeeds");
        Expect(ctx, mm, "vm_munmap() splits like do_munmap()", (BASE, BASE + P(1), BASE >> PAGE_SHIFT), (BASE + P(2), BASE + P(3), (BASE >> PAGE_SHIFT) + 2));
        ctx.Check(!mm.mmap_lock.IsHeld, "vm_munmap() releases the mmap lock before it returns", "mmap_lock free", "mmap_lock held");
        a.mmap_write_lock(mm);
        ctx.Check(mm.mmap_lock.IsHeld, "mmap_write_lock() takes mm->mmap_lock", "mmap_lock held", "mmap_lock free");
        a.mmap_write_unlock(mm);
        a.mmap_read_lock(mm);
        ctx.Check(mm.mmap_lock.IsHeld, "mmap_read_lock() takes mm->mmap_lock", "mmap_lock held", "mmap_lock free");
        // Another reader may take it too. Asked with a trylock: a second down_read by the same task is what
        // lockdep reports as recursive locking (a read hold of an rw_semaphore does not nest), in Linux as here.
        bool shared = down_read_trylock(mm.mmap_lock) != 0;
        ctx.Check(shared, "mmap_read_lock() takes mm->mmap_lock for reading: another reader can take it alongside", "down_read_trylock() = 1", "0 (held for writing)");
        if (shared)
            up_read(mm.mmap_lock);
        a.mmap_read_unlock(mm);
        ctx.Check(!mm.mmap_lock.IsHeld, "mmap_read_unlock() releases it", "mmap_lock free", "mmap_lock held");
    }

    [ConformanceTest("Documentation/core-api example: the spec's MapTools (do_mmap, a find_vma walk under mmap_read_lock, do_munmap under mmap_write_lock) through the Kernel facade", Group = "directed")]
    public void facade_map_walk_and_unmap(ConformanceContext ctx)
    {
        var mm = UserMm(ctx);
        ulong a = do_mmap(null, 0, P(3), PROT_READ | PROT_WRITE, ANON, 0);
        ctx.Check(!IS_ERR_VALUE(a), "do_mmap through the facade maps in current.mm", "an address", Err(a));
        ulong b = do_mmap(null, 0, P(2), PROT_READ, ANON, 0);
        ctx.Check(!IS_ERR_VALUE(b), "a second do_mmap through the facade", "an address", Err(b));
        int writable = 0, total = 0;
        mmap_read_lock(mm);
        for (var vma = find_vma(mm, 0); vma != null; vma = find_vma(mm, vma.vm_end))
        {
            total++;
            if ((vma.vm_flags & VM_WRITE) != 0)
                writable++;
        }
        mmap_read_unlock(mm);
        ctx.Equal(2, total, "a find_vma walk sees both VMAs");
        ctx.Equal(1, writable, "one of them is writable");
        mmap_write_lock(mm);
        int err = do_munmap(mm, a + P(1), P(1));
        mmap_write_unlock(mm);
        ctx.Equal(0, err, "do_munmap through the facade");
        ctx.Equal(3, Validate(ctx, mm).Count, "the hole splits the writable VMA");
    }
}
