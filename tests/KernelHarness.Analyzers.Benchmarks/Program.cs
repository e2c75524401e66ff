using System;
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
        if (args.Contains("--smoke"))
        {
            // Quick check without BenchmarkDotNet: one run per size, counts asserted, timings printed.
            foreach (var n in new[] { 250, 500, 1000 })
            {
                var b = new AnalyzerBenchmarks { Files = n };
                b.Setup();
                var t0 = DateTime.UtcNow; b.Baseline(); var baseMs = (DateTime.UtcNow - t0).TotalMilliseconds;
                t0 = DateTime.UtcNow; b.AllKernelAnalyzers(); var khMs = (DateTime.UtcNow - t0).TotalMilliseconds;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{n} files: baseline {baseMs:F0} ms, KH {khMs:F0} ms, overhead {(khMs / baseMs - 1) * 100:F0}%"));
            }
            return;
        }
        BenchmarkRunner.Run<AnalyzerBenchmarks>(args: args);
    }
}

/// <summary>An analyzer that registers nothing: the cost of compiling and binding alone.</summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class EmptyAnalyzer : DiagnosticAnalyzer
{
    private static readonly DiagnosticDescriptor Rule = new("KH0000", "empty", "empty", "none", DiagnosticSeverity.Hidden, true);
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics => ImmutableArray.Create(Rule);
    public override void Initialize(AnalysisContext context)
    {
        context.EnableConcurrentExecution();
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
    }
}

[MemoryDiagnoser]
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

    [Benchmark]
    public int AllKernelAnalyzers() => Run(kernel, expected: Corpus.ExpectedFindings(Files));

    private int Run(ImmutableArray<DiagnosticAnalyzer> analyzers, int expected)
    {
        // A fresh compilation each iteration: no semantic model or summary survives from the last one.
        var fresh = compilation.Clone();
        var cwa = fresh.WithAnalyzers(analyzers);
        var diagnostics = cwa.GetAllDiagnosticsAsync().GetAwaiter().GetResult().Where(d => d.Id.StartsWith("KH", StringComparison.Ordinal) && d.Id != "KH0000").ToList();
        if (diagnostics.Count != expected)
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
