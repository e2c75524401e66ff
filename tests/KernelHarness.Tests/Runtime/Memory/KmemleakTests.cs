using KernelHarness.Runtime;
using KernelHarness.Tests.Infrastructure;
using Xunit;
using static KernelHarness.Kernel;

namespace KernelHarness.Tests.Runtime.Memory;

// kmemleak (mm/kmemleak.c): an object is a leak when no root and no reachable object holds a pointer to it.
public class KmemleakTests
{
    [Fact]
    public void Object_reachable_only_through_another_objects_memory_is_not_a_leak()
    {
        var m = Sim.Run(() =>
        {
            var head = kmalloc(64, GFP_KERNEL);
            var next = kmalloc(32, GFP_KERNEL);
            ptr_ref<ulong>(head) = next.addr; // head->next = next
            var leaks = Machine.Current.Checks.ScanForLeaks(new[] { head });
            Assert.Empty(leaks);
            kfree(next);
            kfree(head);
        });
        Assert.DoesNotContain(m.Reports, r => r.Kind == ReportKind.Kmemleak);
    }

    [Fact]
    public void Unreachable_object_is_reported_as_an_unreferenced_object_with_its_allocation_site()
    {
        kptr lost = default;
        var m = Sim.Run(() =>
        {
            var kept = kzalloc(16, GFP_KERNEL);
            lost = kmalloc(48, GFP_KERNEL);
            var leaks = Machine.Current.Checks.ScanForLeaks(new[] { kept });
            Assert.Equal(lost.addr, Assert.Single(leaks).Start);
        });
        var report = Assert.Single(m.Reports, r => r.Kind == ReportKind.Kmemleak);
        Assert.Equal($"unreferenced object 0x{lost.addr:x} (size 48):", report.Title);
        Assert.Equal("kmalloc", report.Function);
        Assert.Contains(m.Log.Lines, l => l.Text.StartsWith("unreferenced object", System.StringComparison.Ordinal));
    }

    [Fact]
    public void Objects_waiting_in_kfree_rcu_are_referenced_by_rcu_not_leaked()
    {
        var m = Sim.Run(() =>
        {
            var p = kmalloc(40, GFP_KERNEL);
            rcu_read_lock();
            kfree_rcu(p); // pending until this task leaves its read section
            Assert.Empty(Machine.Current.Checks.ScanForLeaks(System.Array.Empty<kptr>()));
            rcu_read_unlock();
            kvfree_rcu_barrier();
        });
        Assert.DoesNotContain(m.Reports, r => r.Kind == ReportKind.Kmemleak);
    }

    [Fact]
    public void The_report_names_comm_pid_and_the_allocation_backtrace()
    {
        var m = Sim.Run(() =>
        {
            _ = kmalloc(24, GFP_KERNEL);
            Machine.Current.Checks.ScanForLeaks(System.Array.Empty<kptr>());
        });
        var report = Assert.Single(m.Reports, r => r.Kind == ReportKind.Kmemleak);
        Assert.Matches("^  comm \"[^\":]+\", pid [0-9]+, jiffies [0-9]+$", report.Details[0]);
        Assert.Equal("  backtrace:", report.Details[1]);
    }

    [Fact]
    public void Freed_objects_are_never_reported()
    {
        var m = Sim.Run(() =>
        {
            var p = kmalloc(128, GFP_KERNEL);
            kfree(p);
            Assert.DoesNotContain(Machine.Current.Checks.ScanForLeaks(System.Array.Empty<kptr>()), a => a.Start == p.addr);
        });
        Assert.DoesNotContain(m.Reports, r => r.Kind == ReportKind.Kmemleak && r.Title.Contains("(size 128)", System.StringComparison.Ordinal));
    }
}
