using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using KernelHarness.Reference.Slab;
using KernelHarness.Runtime;
using Xunit;
using static KernelHarness.Kernel;

namespace KernelHarness.Conformance.Tests.Memory;

/// <summary>
/// The reference slab's debug checks with lib/tests/slub_kunit.c's exact error counts, and the facade's
/// KASAN checks against mm/kasan/kasan_test_c.c's cases.
/// </summary>
public sealed class SlabAndKasanTests
{
    private static Machine Run(Action<ReferenceSlab> body, bool kasan = true)
    {
        var slab = new ReferenceSlab();
        var m = new Machine(new MachineConfig { Seed = 1, Cpus = 2, Kasan = kasan }).With<KernelHarness.Subsystems.ISlab>(slab);
        m.Run(() => body(slab));
        return m;
    }

    private static int Count(Machine m, ReportKind kind) => m.Reports.Count(r => r.Kind == kind);

    private static string Dump(Machine m) => string.Join("\n", m.Reports.Select(r => r.Title));

    // ---- slub_kunit.c ----

    [Fact]
    public void Clobbered_right_red_zone_counts_two_errors()
    {
        int errors = -1;
        Run(slab =>
        {
            var s = kmem_cache_create("TestSlub_RZ_alloc", 64, 0, SLAB_RED_ZONE, null)!;
            var p = kmem_cache_alloc(s, GFP_KERNEL);
            Arch.raw_ref<byte>(p + 64) = 0x12; // p[64], behind KASAN's back as kasan_disable_current() does
            errors = slab.validate_slab_cache(s);
            Assert.Equal(0, slab.validate_slab_cache(s)); // repaired
            kmem_cache_free(s, p);
            kmem_cache_destroy(s);
        });
        Assert.Equal(2, errors);
    }

    [Fact]
    public void Corrupted_free_pointer_counts_three_then_two_then_zero()
    {
        var counts = new List<int>();
        Run(slab =>
        {
            var s = kmem_cache_create("TestSlub_next_ptr_free", 64, 0, SLAB_POISON, null)!;
            var p = kmem_cache_alloc(s, GFP_KERNEL);
            kmem_cache_free(s, p);
            ref ulong fp = ref Arch.raw_ref<ulong>(p + ReferenceSlab.FreePointerOffset(s));
            ulong saved = fp;
            fp = saved ^ 0x12345678UL;
            counts.Add(slab.validate_slab_cache(s));
            Arch.raw_ref<ulong>(p + ReferenceSlab.FreePointerOffset(s)) = saved;
            counts.Add(slab.validate_slab_cache(s));
            counts.Add(slab.validate_slab_cache(s));
            kmem_cache_destroy(s);
        });
        Assert.Equal(new[] { 3, 2, 0 }, counts);
    }

    [Theory]
    [InlineData(0, SLAB_POISON)]   // test_first_word
    [InlineData(50, SLAB_POISON)]  // test_clobber_50th_byte
    [InlineData(64, SLAB_RED_ZONE)] // test_clobber_redzone_free
    public void Write_after_free_into_poison_or_red_zone_counts_two_errors(int offset, slab_flags_t flags)
    {
        int errors = -1;
        Run(slab =>
        {
            var s = kmem_cache_create("TestSlub_after_free", 64, 0, flags, null)!;
            var p = kmem_cache_alloc(s, GFP_KERNEL);
            kmem_cache_free(s, p);
            Arch.raw_ref<byte>(p + offset) = 0x78;
            errors = slab.validate_slab_cache(s);
            kmem_cache_destroy(s);
        });
        Assert.Equal(2, errors);
    }

    [Fact]
    public void Destroy_with_a_leaked_object_makes_two_reports_and_keeps_it()
    {
        var m = Run(slab =>
        {
            var s = kmem_cache_create("TestSlub_leak_destroy", 64, 0, 0, null)!;
            var p = kmem_cache_alloc(s, GFP_KERNEL);
            memset(p, 1, 64);
            kmem_cache_destroy(s);
            Assert.Equal(1, ptr_ref<byte>(p + 63)); // still readable: no KASAN report
        });
        Assert.Equal(1, Count(m, ReportKind.SlabCacheBusy));
        Assert.Equal(1, Count(m, ReportKind.SlabCorruption));
        Assert.Contains(m.Reports, r => r.Title.Contains("Objects remaining in TestSlub_leak_destroy on __kmem_cache_shutdown()", StringComparison.Ordinal));
        Assert.Contains(m.Reports, r => r.Title.StartsWith("kmem_cache_destroy TestSlub_leak_destroy: Slab cache still has objects", StringComparison.Ordinal));
    }

    [Fact]
    public void Kmalloc_red_zone_from_orig_size_counts_two_errors()
    {
        int errors = -1, before = -1;
        Run(slab =>
        {
            var s = kmem_cache_create("TestSlub_RZ_kmalloc", 32, 0, SLAB_KMALLOC | SLAB_STORE_USER | SLAB_RED_ZONE, null)!;
            var p = kmalloc_trace(s, GFP_KERNEL, 18);
            before = slab.validate_slab_cache(s);
            Arch.raw_ref<byte>(p + 18) = 0x12; // test_kmalloc_redzone_access
            Arch.raw_ref<byte>(p + 19) = 0x12;
            errors = slab.validate_slab_cache(s);
            kfree(p);
            kmem_cache_destroy(s);
        });
        Assert.Equal(0, before);
        Assert.Equal(2, errors);
    }

    [Fact]
    public void Krealloc_keeps_orig_size_red_zone_and_zeroes_from_it()
    {
        var m = Run(slab =>
        {
            var s = kmem_cache_create("TestSlub_krealloc", 64, 0, SLAB_KMALLOC | SLAB_STORE_USER | SLAB_RED_ZONE, null)!;
            var p = kmalloc_trace(s, GFP_KERNEL, 48);
            memset(p, 0xff, 48);
            p = krealloc(p, 40, GFP_KERNEL | __GFP_ZERO);
            Assert.All(Arch.raw_span(p + 40, 24).ToArray(), b => Assert.Equal(SLUB_RED_ACTIVE, b));
            p = krealloc(p, 56, GFP_KERNEL | __GFP_ZERO);
            Assert.All(Arch.raw_span(p + 40, 16).ToArray(), b => Assert.Equal(0, b));
            Assert.All(Arch.raw_span(p + 56, 8).ToArray(), b => Assert.Equal(SLUB_RED_ACTIVE, b));
            Assert.Equal(0, slab.validate_slab_cache(s));
            memset(p, 0xff, 56);
            p = krealloc(p, 112, GFP_KERNEL | __GFP_ZERO);
            Assert.All(ptr_span(p, 56).ToArray(), b => Assert.Equal(0xff, b));
            Assert.All(ptr_span(p + 56, 56).ToArray(), b => Assert.Equal(0, b));
            kfree(p);
            kmem_cache_destroy(s);
        });
        Assert.True(m.Reports.Count == 0, Dump(m));
    }

    [Fact]
    public void Left_red_zone_write_next_to_a_live_object_is_reported()
    {
        int errors = -1;
        var m = Run(slab =>
        {
            var s = kmem_cache_create("TestSlub_RZ_left", 64, 0, SLAB_RED_ZONE, null)!;
            var a = kmem_cache_alloc(s, GFP_KERNEL);
            var b = kmem_cache_alloc(s, GFP_KERNEL);
            Assert.Equal((long)s.size, b - a);
            Arch.raw_ref<byte>(b - 1) = 0x12;
            errors = slab.validate_slab_cache(s);
            kmem_cache_free(s, a);
            kmem_cache_free(s, b);
            kmem_cache_destroy(s);
        });
        Assert.Equal(2, errors);
        Assert.Contains(m.Reports, r => r.Title.Contains("Left Redzone overwritten", StringComparison.Ordinal));
    }

    // ---- kfree_rcu and bulk (library helpers) ----

    [Fact]
    public void Kfree_rcu_frees_only_after_every_reader_has_left()
    {
        bool liveWhileReading = false, freedAfter = false;
        var m = Run(slab =>
        {
            var p = kmalloc(64, GFP_KERNEL);
            memset(p, 7, 64);
            bool inside = false, release = false;
            var done = new completion();
            kthread_run(_ =>
            {
                rcu_read_lock();
                inside = true;
                while (!release)
                {
                    cpu_relax();
                    Assert.Equal(7, ptr_ref<byte>(p)); // still readable: no KASAN report
                }
                rcu_read_unlock();
                complete(done);
                return 0;
            }, null, "rcu-reader");
            while (!inside)
                msleep(1);
            kfree_rcu(p);
            msleep(20); // many ticks: the reader is still inside its section
            liveWhileReading = Machine.Current.Checks.FindLive(p.addr) is not null;
            release = true;
            wait_for_completion(done);
            kvfree_rcu_barrier();
            freedAfter = Machine.Current.Checks.FindLive(p.addr) is null;
        });
        Assert.True(m.Reports.Count == 0, Dump(m));
        Assert.True(liveWhileReading, "kfree_rcu freed the object while a reader that predates it was still inside rcu_read_lock()");
        Assert.True(freedAfter, "after the reader left and kvfree_rcu_barrier() the object is freed");
    }

    [Fact]
    public void Kfree_rcu_frees_kmalloc_vmalloc_and_cache_objects_each_with_its_own_free()
    {
        var m = Run(slab =>
        {
            var c = kmem_cache_create("rcu-objs", 100, 0, 0, null)!;
            var a = kmalloc(100, GFP_KERNEL);
            var v = vmalloc(3 * PAGE_SIZE);
            var o = kmem_cache_alloc(c, GFP_KERNEL);
            kfree_rcu(a);
            kfree_rcu(v);
            kfree_rcu(o);
            kfree_rcu(NULL);
            msleep(5); // the RCU timer frees them in softirq context
            Assert.Null(Machine.Current.Checks.FindLive(a.addr));
            Assert.Null(Machine.Current.Checks.FindLive(v.addr));
            Assert.Null(Machine.Current.Checks.FindLive(o.addr));
            kmem_cache_destroy(c);
        });
        Assert.True(m.Reports.Count == 0, Dump(m));
    }

    [Fact]
    public void Kvfree_rcu_barrier_inside_a_read_section_warns_instead_of_waiting_for_ever()
    {
        var m = Run(slab =>
        {
            var p = kmalloc(32, GFP_KERNEL);
            rcu_read_lock();
            kfree_rcu(p);
            kvfree_rcu_barrier();
            rcu_read_unlock();
            kvfree_rcu_barrier();
            Assert.Null(Machine.Current.Checks.FindLive(p.addr));
        });
        Assert.Contains(m.Reports, r => r.Kind == ReportKind.Warning
            && r.Details.Any(d => d.Contains("kvfree_rcu_barrier() inside an RCU read-side critical section", StringComparison.Ordinal)));
    }

    [Fact]
    public void Failed_bulk_allocation_frees_what_it_took()
    {
        int got = -1;
        long liveAfter = -1;
        var m = Run(slab =>
        {
            var c = kmem_cache_create("bulk-big", 2UL << 20, 0, 0, null)!;
            var objs = new kptr[500];
            got = kmem_cache_alloc_bulk(c, GFP_NOWAIT | __GFP_NOWARN, 500, objs);
            liveAfter = Machine.Current.Checks.LiveObjects.Count(a => ReferenceEquals(a.Cache, c));
            kmem_cache_destroy(c);
        });
        Assert.Equal(0, got);
        Assert.Equal(0, liveAfter);
        Assert.True(m.Reports.Count == 0, Dump(m));
    }

    [Fact]
    public void Calculate_alignment_follows_slab_common()
    {
        Assert.Equal(32UL, ReferenceSlab.calculate_alignment(SLAB_HWCACHE_ALIGN, 0, 20));
        Assert.Equal(64UL, ReferenceSlab.calculate_alignment(SLAB_HWCACHE_ALIGN, 0, 100));
        Assert.Equal(8UL, ReferenceSlab.calculate_alignment(0, 1, 7));
        Assert.Equal(128UL, ReferenceSlab.calculate_alignment(0, 128, 24));
    }

    // ---- kasan_test_c.c ----

    private static KernelReport Single(Machine m, ReportKind kind)
    {
        var list = m.Reports.Where(r => r.Kind == kind).ToList();
        Assert.True(list.Count == 1, $"expected one {kind}, got:\n{Dump(m)}");
        return list[0];
    }

    [Fact]
    public void Kmalloc_oob_right_is_a_slab_out_of_bounds()
    {
        var m = Run(slab =>
        {
            var p = kmalloc(120, GFP_KERNEL);
            ptr_ref<byte>(p + 120) = 1;
            kfree(p);
        });
        Assert.Contains("slab-out-of-bounds", Single(m, ReportKind.KasanOutOfBounds).Title);
    }

    [Fact]
    public void Kmalloc_oob_left_next_to_a_live_object_is_a_slab_out_of_bounds()
    {
        // With KASAN each slot ends in a red zone no object covers (kasan_cache_create), so p[-1] is poisoned
        // even when the object before p is live and was asked for in full.
        var m = Run(slab =>
        {
            var a = kmalloc(64, GFP_KERNEL);
            var b = kmalloc(64, GFP_KERNEL);
            memset(a, 1, 64);
            memset(b, 2, 64);
            var (lo, hi) = a < b ? (a, b) : (b, a);
            Assert.True(hi - lo < 256, $"the two objects are neighbours in kmalloc-64: {lo} {hi}");
            ptr_ref<byte>(hi - 1) = 3; // kmalloc_oob_left
            kfree(a);
            kfree(b);
        });
        Assert.Contains("slab-out-of-bounds", Single(m, ReportKind.KasanOutOfBounds).Title);
    }

    [Fact]
    public void Kmalloc_oob_right_of_a_kmalloc_trace_request_is_a_slab_out_of_bounds()
    {
        var m = Run(slab =>
        {
            var s = kmem_cache_create("kasan-orig-size", 32, 0, SLAB_KMALLOC, null)!;
            var p = kmalloc_trace(s, GFP_KERNEL, 18);
            memset(p, 1, 18);
            ptr_ref<byte>(p + 18) = 1; // past the requested size, inside the object
            kfree(p);
            kmem_cache_destroy(s);
        });
        Assert.Contains("slab-out-of-bounds", Single(m, ReportKind.KasanOutOfBounds).Title);
    }

    [Fact]
    public void Without_kasan_the_slot_has_no_kasan_red_zone()
    {
        ulong withKasan = 0, without = 0;
        Run(_ => withKasan = kmem_cache_create("slot", 64, 0, 0, null)!.size);
        Run(_ => without = kmem_cache_create("slot", 64, 0, 0, null)!.size, kasan: false);
        Assert.Equal(64UL, without);
        Assert.Equal(96UL, withKasan); // 64 + optimal_redzone(64) = 32, aligned to 8
    }

    [Fact]
    public void Kmalloc_uaf_reports_the_allocation_and_free_sites()
    {
        var m = Run(slab =>
        {
            var p = kmalloc(10, GFP_KERNEL);
            kfree(p);
            _ = ptr_ref<byte>(p + 8);
        });
        var r = Single(m, ReportKind.KasanUseAfterFree);
        Assert.Contains("slab-use-after-free", r.Title);
        Assert.Contains(r.Details, d => d.StartsWith("Allocated by task", StringComparison.Ordinal));
        Assert.Contains(r.Details, d => d.StartsWith("Freed by task", StringComparison.Ordinal));
    }

    [Fact]
    public void Double_free_and_invalid_free_are_reported_and_not_passed_on()
    {
        var m = Run(slab =>
        {
            var s = kmem_cache_create("kasan-double", 200, 0, 0, null)!;
            var p = kmem_cache_alloc(s, GFP_KERNEL);
            kmem_cache_free(s, p);
            kmem_cache_free(s, p);               // kmem_cache_double_free
            var q = kmem_cache_alloc(s, GFP_KERNEL);
            kmem_cache_free(s, q + 1);           // kmem_cache_invalid_free
            kmem_cache_free(s, q);
            var big = kmalloc(KMALLOC_MAX_CACHE_SIZE + 10, GFP_KERNEL);
            kfree(big + 1);                      // kmalloc_large_invalid_free
            kfree(big);
            kmem_cache_destroy(s);
        });
        Single(m, ReportKind.KasanDoubleFree);
        Assert.Equal(2, Count(m, ReportKind.KasanInvalidFree));
        Assert.DoesNotContain(m.Reports, r => r.Kind == ReportKind.SlabCacheBusy);
    }

    [Fact]
    public void Krealloc_less_and_more_make_only_the_new_size_accessible()
    {
        var m = Run(slab =>
        {
            var p = kmalloc(201, GFP_KERNEL);
            var q = krealloc(p, 235, GFP_KERNEL);
            Assert.Equal(p, q);
            ptr_ref<byte>(q + 234) = 1;          // fine
            ptr_ref<byte>(q + 235) = 1;          // krealloc_more_oob: out of bounds
            var r = krealloc(q, 150, GFP_KERNEL);
            ptr_ref<byte>(r + 160) = 1;          // krealloc_less_oob
            kfree(r);
        });
        Assert.Equal(2, Count(m, ReportKind.KasanOutOfBounds));
    }

    [Fact]
    public void Ksize_unpoisons_the_whole_bucket_but_not_past_it()
    {
        var m = Run(slab =>
        {
            var p = kmalloc(123, GFP_KERNEL);
            ulong real = ksize(p);
            Assert.Equal(128UL, real);
            ptr_ref<byte>(p + real - 1) = 1;
            _ = ptr_ref<byte>(p + real);
            kfree(p);
        });
        Assert.Single(m.Reports);
    }

    [Fact]
    public void Krealloc_of_a_freed_object_is_a_use_after_free()
    {
        var m = Run(slab =>
        {
            var p = kmalloc(32, GFP_KERNEL);
            kfree(p);
            Assert.Equal(NULL, krealloc(p, 64, GFP_KERNEL));
        });
        Single(m, ReportKind.KasanUseAfterFree);
    }

    [Fact]
    public void Page_alloc_uaf_and_kfree_via_page_address_are_handled()
    {
        var m = Run(slab =>
        {
            var pg = alloc_pages(GFP_KERNEL, 1);
            var addr = page_address(pg!);
            __free_pages(pg!, 1);
            _ = ptr_ref<byte>(addr + 100);       // page_alloc_uaf
            var p = kmalloc(50, GFP_KERNEL);
            kfree(page_address(virt_to_page(p)) + offset_in_page(p.addr)); // kfree_via_page: valid
        });
        Assert.Contains("use-after-free", Single(m, ReportKind.KasanUseAfterFree).Title);
        Assert.Single(m.Reports);
    }

    [Fact]
    public void Kmem_cache_double_destroy_is_reported()
    {
        var m = Run(slab =>
        {
            var s = kmem_cache_create("double-destroy", 32, 0, 0, null)!;
            kmem_cache_destroy(s);
            kmem_cache_destroy(s);
        });
        Single(m, ReportKind.KasanDoubleFree);
    }

    [Fact]
    public void Lookups_stay_cheap_with_thousands_of_live_objects()
    {
        var sw = new Stopwatch();
        var m = Run(slab =>
        {
            var objs = new List<kptr>();
            sw.Start();
            for (int i = 0; i < 20_000; i++)
                objs.Add(kmalloc((ulong)(16 + i % 200), GFP_KERNEL));
            foreach (var p in objs)
                kfree(p);
            sw.Stop();
        });
        Assert.Empty(m.Reports);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10), $"40,000 checked kmalloc/kfree calls took {sw.Elapsed}");
    }
}
