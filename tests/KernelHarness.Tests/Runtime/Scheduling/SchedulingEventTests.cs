using System;
using System.Linq;
using KernelHarness.Runtime;
using Xunit;
using static KernelHarness.Kernel;

namespace KernelHarness.Tests.Runtime.Scheduling;

/// <summary>
/// The interleaving point draws the gap to the next scheduling event once (geometric) instead of rolling
/// on every call: the gaps must follow the distribution of per-call rolls, and contention must still be met.
/// </summary>
public class SchedulingEventTests
{
    [Theory]
    [InlineData(144)] // the defaults: CpuSwitchPer1024 96 + PreemptPer1024 48
    [InlineData(1)]
    [InlineData(512)]
    [InlineData(1000)]
    public void Gaps_follow_the_geometric_distribution_of_per_call_rolls(int per1024)
    {
        var gaps = Machine.EventGaps.For(per1024)!;
        double p = per1024 / 1024.0;
        const int N = 1 << 16;
        var values = Enumerable.Range(0, N).Select(i => gaps.Gap((uint)(((ulong)i << 32) / N + ((1UL << 32) / N / 2)))).ToArray();
        Assert.All(values, g => Assert.True(g >= 1));
        // Evenly spaced quantiles: the mean and P(gap = 1) match 1/p and p.
        Assert.InRange(values.Average(), 1 / p * 0.98, 1 / p * 1.02);
        Assert.InRange(values.Count(g => g == 1) / (double)N, p * 0.98 - 1e-4, p * 1.02 + 1e-4);
        // P(gap > k) = (1 - p)^k
        int k = (int)Math.Ceiling(1 / p);
        Assert.InRange(values.Count(g => g > k) / (double)N, Math.Pow(1 - p, k) * 0.97, Math.Pow(1 - p, k) * 1.03);
    }

    [Fact]
    public void No_events_when_both_rates_are_zero_and_every_call_with_1024()
    {
        Assert.Null(Machine.EventGaps.For(0));
        Assert.Null(Machine.EventGaps.For(1024));
        int switches = Run(new MachineConfig { Seed = 3, Trace = true, CpuSwitchPer1024 = 0, PreemptPer1024 = 0 });
        Assert.Equal(0, switches);
        int always = Run(new MachineConfig { Seed = 3, Trace = true, CpuSwitchPer1024 = 1024, PreemptPer1024 = 0 });
        Assert.True(always > 100, $"{always} CPU switches with a switch at every call");
    }

    [Fact]
    public void Cpu_switches_happen_at_the_configured_rate_under_contention()
    {
        // Two busy kernel threads: each call is a CPU switch with probability 96/1024.
        var config = new MachineConfig { Seed = 11, Trace = true, Cpus = 2, PreemptPer1024 = 0 };
        var m = new Machine(config);
        long callsInLoops = 0;
        m.Run(() =>
        {
            var done = new completion();
            for (int k = 0; k < 2; k++)
                kthread_run(_ => { for (int i = 0; i < 5000; i++) { cpu_relax_free_call(); } complete(done); return 0; }, null, $"spin{k}");
            wait_for_completion(done);
            wait_for_completion(done);
        });
        callsInLoops = m.Calls;
        int switches = m.Trace.Count(e => e.Contains(":cpu "));
        double rate = switches / (double)callsInLoops;
        Assert.InRange(rate, 96 / 1024.0 * 0.8, 96 / 1024.0 * 1.2);
    }

    private static void cpu_relax_free_call() => _ = in_interrupt(); // a kernel API call that does nothing else

    private static int Run(MachineConfig config)
    {
        var m = new Machine(config);
        m.Run(() =>
        {
            var done = new completion();
            kthread_run(_ => { for (int i = 0; i < 2000; i++) cpu_relax_free_call(); complete(done); return 0; }, null, "busy");
            for (int i = 0; i < 2000; i++)
                cpu_relax_free_call();
            wait_for_completion(done);
        });
        return m.Trace.Count(e => e.Contains(":cpu "));
    }
}
