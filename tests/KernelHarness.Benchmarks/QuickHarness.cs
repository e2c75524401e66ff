using System;
using System.Diagnostics;
using System.Globalization;
using KernelHarness.Runtime;

namespace KernelHarness.Benchmarks;

/// <summary>
/// <c>--quick</c>: the same loops timed with a stopwatch (best of a few rounds), for a ratio in seconds
/// rather than BenchmarkDotNet's minutes. Less rigorous; good enough to see a regression.
/// </summary>
public static class QuickHarness
{
    private const int Pairs = 200_000;
    private const int Rounds = 7;

    public static int Run()
    {
        Console.WriteLine("KernelHarness facade cost per pair (quick mode: best of {0} rounds of {1:N0} pairs)", Rounds, Pairs);
        Console.WriteLine();
        bool ok = true;
        foreach (var (name, config) in new[] { ("production", MachineHost.Production), ("debug", MachineHost.Debug) })
        {
            using var host = new MachineHost(config);
            var l = new spinlock_t();
            var plain = new object();
            double baseline = Measure(host, () => FacadeLoops.PlainCallPair(plain, Pairs));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[{name}] Lockdep={config.Lockdep} Kasan={config.Kasan} Trace={config.Trace}"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {"plain call pair",-34} {baseline,8:F2} ns/pair   ratio  1.00"));
            foreach (var (op, body) in new (string, Action)[]
            {
                ("spin_lock+spin_unlock", () => FacadeLoops.SpinLockPair(l, Pairs)),
                ("get_cpu+put_cpu", () => FacadeLoops.GetCpuPair(Pairs)),
                ("local_irq_save+local_irq_restore", () => FacadeLoops.IrqSavePair(Pairs)),
            })
            {
                double ns = Measure(host, body);
                bool within = ns < 100;
                ok &= within || name != "production";
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  {op,-34} {ns,8:F2} ns/pair   ratio {ns / baseline,5:F1}   {(within ? "< 100 ns" : "OVER 100 ns")}"));
            }
            if (host.Machine.Reports.Count > 0)
            {
                ok = false;
                Console.WriteLine($"  unexpected reports: {host.Machine.Reports.Count} (first: {host.Machine.Reports[0].Title})");
            }
            Console.WriteLine();
        }
        return ok ? 0 : 1;
    }

    private static double Measure(MachineHost host, Action body)
    {
        host.Execute(body); // warm-up (JIT tiering)
        host.Execute(body);
        double best = double.MaxValue;
        for (int r = 0; r < Rounds; r++)
        {
            var sw = Stopwatch.StartNew();
            host.Execute(body);
            sw.Stop();
            best = Math.Min(best, sw.Elapsed.TotalNanoseconds / Pairs);
        }
        return best;
    }
}
