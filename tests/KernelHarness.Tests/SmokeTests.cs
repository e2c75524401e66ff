using System.Linq;
using KernelHarness;
using KernelHarness.Runtime;
using Xunit;
using static KernelHarness.Kernel;

namespace KernelHarness.Tests;

public class SmokeTests
{
    [Fact]
    public void Msleep_under_spinlock_is_reported_as_sleeping_in_atomic_context()
    {
        var m = new Machine(new MachineConfig { Seed = 7 });
        var l = new spinlock_t();
        m.Run(() =>
        {
            spin_lock(l);
            msleep(10);
            spin_unlock(l);
        });
        var r = Assert.Single(m.Reports, r => r.Kind == ReportKind.SleepInAtomic);
        Assert.StartsWith("BUG: sleeping function called from invalid context at SmokeTests.cs:", r.Title);
        Assert.Contains(r.Details, d => d.Contains("in_atomic(): 1, irqs_disabled(): 0"));
    }
}
