using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Globalization;
using System.IO;
using System.Linq;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Running;
using KernelHarness.Analyzers.Rules;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;

namespace KernelHarness.Analyzers.Benchmarks;

public static class Program
{
    public static void Main(string[] args)
    {
        if (args.Contains("--phases"))
        {
            Phases.Run(1000);
            return;
        }
        int rounds = Array.IndexOf(args, "--processes");
        if (rounds >= 0)
        {
            Processes.Run(rounds + 1 < args.Length ? int.Parse(args[rounds + 1], CultureInfo.InvariantCulture) : 8);
            return;
        }
        int only = Array.IndexOf(args, "--only");
        if (only >= 0 && only + 1 < args.Length)
        {
            // For a profiler or `time`: one configuration (see Configuration) on 1,000 files,
            // five times (or --runs N: more samples for a profiler).
            var b = new AnalyzerBenchmarks { Files = 1000 };
            b.Setup();
            Func<int> run = Configuration(b, args[only + 1]);
            var process = System.Diagnostics.Process.GetCurrentProcess();
            int runsAt = Array.IndexOf(args, "--runs");
            int runs = runsAt >= 0 && runsAt + 1 < args.Length ? int.Parse(args[runsAt + 1], CultureInfo.InvariantCulture) : 5;
            for (int i = 0; i < runs; i++)
            {
                // Wall time, CPU time, allocation and GC pauses per run: whether an analyzer costs compute or
                // memory, and how well it runs in parallel with the compiler.
                var cpu = process.TotalProcessorTime;
                long allocated = GC.GetTotalAllocatedBytes(precise: true);
                var paused = GC.GetTotalPauseDuration();
                int gen0 = GC.CollectionCount(0), gen1 = GC.CollectionCount(1), gen2 = GC.CollectionCount(2);
                double wall = Time(run);
                process.Refresh();
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{args[only + 1]}: {wall:F0} ms wall, {(process.TotalProcessorTime - cpu).TotalMilliseconds:F0} ms CPU, {(GC.GetTotalAllocatedBytes(precise: true) - allocated) / 1048576.0:F1} MiB allocated, GC paused {(GC.GetTotalPauseDuration() - paused).TotalMilliseconds:F0} ms in {GC.CollectionCount(0) - gen0} collections ({GC.CollectionCount(1) - gen1} gen1, {GC.CollectionCount(2) - gen2} gen2)"));
            }
            return;
        }
        int compare = Array.IndexOf(args, "--compare");
        if (compare >= 0 && compare + 1 < args.Length)
        {
            // The named configurations (as --only names them) alternated in one process on 1,000 files, after two
            // warm-up runs each: the median of each one's times, and of its ratios to the first one's run beside it.
            var b = new AnalyzerBenchmarks { Files = 1000 };
            b.Setup();
            var names = args[compare + 1].Split(',');
            int roundsAt = Array.IndexOf(args, "--rounds");
            int count = roundsAt >= 0 ? int.Parse(args[roundsAt + 1], CultureInfo.InvariantCulture) : 10;
            var configurations = names.Select(n => Configuration(b, n)).ToArray();
            foreach (var run in configurations)
            {
                run();
                run();
            }
            var times = Alternate(configurations, count);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"questions moved to a thread with more stack: {KernelHarness.Analyzers.Summaries.StackRoom.Moved}"));
            for (int c = 0; c < names.Length; c++)
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{names[c],-12} wall {Median(times[c].Select(r => r.Wall)):F0} ms ({(MedianRatio(times[c], times[0], r => r.Wall) - 1) * 100:+0;-0;0}%), CPU {Median(times[c].Select(r => r.Cpu)):F0} ms ({(MedianRatio(times[c], times[0], r => r.Cpu) - 1) * 100:+0;-0;0}%)"));
            return;
        }
        if (args.Contains("--smoke"))
        {
            // Quick check without BenchmarkDotNet. Runs alternate (baseline, operation-block reference, all KH)
            // seven times per size after a warm-up, and each KH run is divided by the baseline run next to it:
            // the median of those ratios holds up on a machine that other work slows down now and then.
            var warm = new AnalyzerBenchmarks { Files = 250 };
            warm.Setup();
            warm.Baseline(); warm.OperationFloor(); warm.AllKernelAnalyzers();
            foreach (var n in new[] { 250, 500, 1000 })
            {
                var b = new AnalyzerBenchmarks { Files = n };
                b.Setup();
                var times = Alternate(new Func<int>[] { b.Baseline, b.OperationFloor, b.AllKernelAnalyzers }, Pairs);
                var (baseline, floor, kh) = (times[0], times[1], times[2]);
                if (args.Contains("--verbose"))
                    for (int i = 0; i < Pairs; i++)
                        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  baseline {baseline[i].Wall:F0} ms ({baseline[i].Cpu:F0} ms CPU), reference {floor[i].Wall:F0} ms, KH {kh[i].Wall:F0} ms ({kh[i].Cpu:F0} ms CPU)"));
                double baseMs = Median(baseline.Select(r => r.Wall)), khMs = Median(kh.Select(r => r.Wall));
                double floorRatio = MedianRatio(floor, baseline, r => r.Wall), khRatio = MedianRatio(kh, baseline, r => r.Wall);
                double bestRatio = kh.Min(r => r.Wall) / baseline.Min(r => r.Wall);
                double cpuRatio = MedianRatio(kh, baseline, r => r.Cpu);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{n} files: baseline {baseMs:F0} ms, all KH {khMs:F0} ms, KH overhead {(khRatio - 1) * 100:F0}% (best run against best run: {(bestRatio - 1) * 100:F0}%; in CPU time: {(cpuRatio - 1) * 100:F0}%; operation-block analyzer for reference: {(floorRatio - 1) * 100:F0}%)"));
            }
            return;
        }
        BenchmarkRunner.Run<AnalyzerBenchmarks>(args: args);
    }

    /// <summary>One configuration by its command-line name: a reference analyzer, all KH analyzers, or one KH analyzer by type name.</summary>
    private static Func<int> Configuration(AnalyzerBenchmarks b, string name) => name switch
    {
        "baseline" => b.Baseline,
        "floor" => b.OperationFloor,
        "perfile" => b.PerFile,
        "retain" => b.PerFileRetained,
        "codeblock" => b.CodeBlock,
        "early" => b.Early,
        "kh" => b.AllKernelAnalyzers,
        _ => () => b.One(name),
    };

    /// <summary>
    /// Runs the configurations in turn, <paramref name="rounds"/> times (<c>--smoke</c>, <c>--compare</c>): each run's wall
    /// and CPU time, by configuration and round, so that a run can be compared with the others' runs beside it.
    /// </summary>
    private static (double Wall, double Cpu)[][] Alternate(IReadOnlyList<Func<int>> configurations, int rounds)
    {
        var times = configurations.Select(_ => new (double Wall, double Cpu)[rounds]).ToArray();
        for (int i = 0; i < rounds; i++)
            for (int c = 0; c < configurations.Count; c++)
                times[c][i] = TimeWithCpu(configurations[c]);
        return times;
    }

    /// <summary>The median, over the rounds, of one configuration's time divided by the reference's in the same round.</summary>
    private static double MedianRatio((double Wall, double Cpu)[] runs, (double Wall, double Cpu)[] reference, Func<(double Wall, double Cpu), double> time)
        => Median(runs.Select((r, i) => time(r) / time(reference[i])));

    /// <summary>Alternating runs per size in <c>--smoke</c>: enough for a median that one slow run does not move.</summary>
    private const int Pairs = 7;

    /// <summary>Wall and process CPU time of one run, in ms. CPU time does not count what other work on the machine steals.</summary>
    private static (double Wall, double Cpu) TimeWithCpu(Func<int> run)
    {
        var process = System.Diagnostics.Process.GetCurrentProcess();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        process.Refresh();
        var cpu = process.TotalProcessorTime;
        var sw = System.Diagnostics.Stopwatch.StartNew();
        run();
        double wall = sw.Elapsed.TotalMilliseconds;
        process.Refresh();
        return (wall, (process.TotalProcessorTime - cpu).TotalMilliseconds);
    }

    private static double Time(Func<int> run) => TimeWithCpu(run).Wall;

    /// <summary>The middle value (the mean of the middle two, for an even count).</summary>
    internal static double Median(System.Collections.Generic.IEnumerable<double> values)
    {
        var sorted = values.OrderBy(v => v).ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }
}

[MemoryDiagnoser]
[GcServer(true)] // as csc and VBCSCompiler run (see the project file)
// Steady state, as in the long-lived compiler server: each process runs 60 warm-up iterations (every one a full
// analysis after a forced collection) before 15 measured ones. A process keeps getting faster for its first
// 10-30 runs, longer at 250 and 500 files than at 1,000 (most likely the server collector's DATAS, which tunes
// its heaps by the collections it sees: a small run sees few), and a KH process at 250 files was still getting
// faster after 30, so BenchmarkDotNet's own warm-up rule, which stops once a few runs agree, measured part of the
// curve (see README). Three processes per case: on a shared VM whole processes differ by ±20%.
[SimpleJob(launchCount: 3, warmupCount: 60, iterationCount: 15)]
[InvocationCount(1)]
public class AnalyzerBenchmarks
{
    private Compilation compilation = null!;
    private ImmutableArray<DiagnosticAnalyzer> kernel;

    [Params(250, 500, 1000)]
    public int Files { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        compilation = Corpus.Build(Files);
        kernel = typeof(KernelRuleAnalyzer).Assembly.GetTypes()
            .Where(t => !t.IsAbstract && typeof(DiagnosticAnalyzer).IsAssignableFrom(t))
            .Select(t => (DiagnosticAnalyzer)Activator.CreateInstance(t)!).ToImmutableArray();
    }

    [Benchmark(Baseline = true)]
    public int Baseline() => Run(ImmutableArray.Create<DiagnosticAnalyzer>(new EmptyAnalyzer()), expected: 0);

    /// <summary>One KH analyzer alone, by type name (for <c>--only</c>): where the cost of the set comes from.</summary>
    public int One(string typeName) => Run(kernel.Where(a => a.GetType().Name == typeName).ToImmutableArray(), expected: -1);

    public int PerFile() => Run(ImmutableArray.Create<DiagnosticAnalyzer>(new PerFileBindingAnalyzer()), expected: 0);

    public int Early() => Run(ImmutableArray.Create<DiagnosticAnalyzer>(new EarlyBindingAnalyzer()), expected: 0);

    public int CodeBlock() => Run(ImmutableArray.Create<DiagnosticAnalyzer>(new CodeBlockBindingAnalyzer()), expected: 0);

    public int PerFileRetained() => Run(ImmutableArray.Create<DiagnosticAnalyzer>(new PerFileBindingAnalyzer { Retain = true }), expected: 0);

    [Benchmark]
    public int OperationFloor() => Run(ImmutableArray.Create<DiagnosticAnalyzer>(new OperationFloorAnalyzer()), expected: 0);

    [Benchmark]
    public int AllKernelAnalyzers() => Run(kernel, expected: Corpus.ExpectedFindings(Files));

    private int Run(ImmutableArray<DiagnosticAnalyzer> analyzers, int expected)
    {
        // A fresh compilation each iteration: no semantic model or summary survives from the last one.
        var fresh = compilation.Clone();
        var cwa = fresh.WithAnalyzers(analyzers);
        var diagnostics = cwa.GetAllDiagnosticsAsync().GetAwaiter().GetResult().Where(d => d.Id.StartsWith("KH", StringComparison.Ordinal) && !ReferenceAnalyzer.Ids.Contains(d.Id)).ToList();
        if (expected >= 0 && diagnostics.Count != expected)
            throw new InvalidOperationException($"expected {expected} KH diagnostics, got {diagnostics.Count}: {string.Join("; ", diagnostics.Take(5))}");
        return diagnostics.Count;
    }
}

/// <summary>Generated kernel-style files: drivers with handlers, tasklets, work, locks; every tenth has one known bug.</summary>
public static class Corpus
{
    public static int ExpectedFindings(int files) => (files + 9) / 10;

    public static Compilation Build(int files)
    {
        var trees = Enumerable.Range(0, files).Select(i => CSharpSyntaxTree.ParseText(File(i), path: $"Driver{i}.cs")).ToList();
        var tpa = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Where(p => Path.GetFileName(p).StartsWith("System.", StringComparison.Ordinal) || Path.GetFileName(p) is "mscorlib.dll" or "netstandard.dll")
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p)).ToList();
        tpa.Add(MetadataReference.CreateFromFile(typeof(KernelHarness.Kernel).Assembly.Location));
        var c = CSharpCompilation.Create("Bench", trees, tpa, new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));
        var errors = c.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).Take(3).ToList();
        if (errors.Count > 0)
            throw new InvalidOperationException(string.Join("\n", errors));
        return c;
    }

    private static string File(int i)
    {
        bool buggy = i % 10 == 0;
        return $$"""
using KernelHarness;
using static KernelHarness.Kernel;

namespace Bench.D{{i}};

public sealed class Dev{{i}}
{
    private readonly spinlock_t lk = new();
    private readonly mutex cfg = new();
    private readonly tasklet_struct t = new();
    private readonly work_struct w = new();
    private kptr ring = NULL;
    private int pending;
    private uint irq;

    public int probe(uint line)
    {
        irq = line;
        tasklet_setup(t, x => poll());
        INIT_WORK(w, x => reset());
        return request_irq(irq, isr, IRQF_SHARED, "d{{i}}", this);
    }

    private irqreturn_t isr(int n, object? dev)
    {
        spin_lock(lk);
        pending++;
        spin_unlock(lk);
        tasklet_schedule(t);
        return IRQ_HANDLED;
    }

    private void poll()
    {
        spin_lock_irqsave(lk, out var flags);
        int n = pending;
        pending = 0;
        spin_unlock_irqrestore(lk, flags);
        var b = kmalloc((ulong)(n + 1) * 8, {{(buggy ? "GFP_KERNEL" : "GFP_ATOMIC")}});
        if (b != NULL)
            kfree(b);
    }

    private void reset()
    {
        mutex_lock(cfg);
        msleep(1);
        mutex_unlock(cfg);
        int cpu = get_cpu();
        pending += cpu;
        put_cpu();
    }

    public void remove()
    {
        free_irq(irq, this);
        cancel_work_sync(w);
        kfree(ring);
    }
}
""";
    }
}
