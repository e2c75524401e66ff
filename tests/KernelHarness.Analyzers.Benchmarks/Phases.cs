using System;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using KernelHarness.Analyzers.Provenance;
using KernelHarness.Analyzers.Summaries;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Operations;

namespace KernelHarness.Analyzers.Benchmarks;

/// <summary>
/// Where the analyzers' time goes, one phase at a time on one thread with no driver (<c>--phases</c>):
/// compiling alone, then binding every file's bodies into operations (no compiler has bound them here), the index
/// over them, the entry contexts (registrations), the control-flow graphs of the bodies that need one, the context engine, and the
/// provenance engine. Each phase prints its time and what it allocated.
/// </summary>
public static class Phases
{
    public static void Run(int files)
    {
        var source = Corpus.Build(files);
        for (int round = 0; round < 3; round++)
        {
            var c = source.Clone();
            var compile = Time(() => c.GetDiagnostics().Length);
            var fresh = source.Clone();
            var model = CompilationModel.Get(fresh)!;
            // The bodies' operations first (what the driver's models hold once the compiler has bound them), then the index alone.
            var operations = Time(() => fresh.SyntaxTrees.Sum(t => t.GetRoot().DescendantNodes().OfType<Microsoft.CodeAnalysis.CSharp.Syntax.BaseMethodDeclarationSyntax>().Count(m => model.SemanticModels.Get(t).GetOperation(m) is not null)));
            var index = Time(() => fresh.SyntaxTrees.Sum(t => model.Index.MethodsIn(t).Count));
            var methods = fresh.SyntaxTrees.SelectMany(t => model.Index.MethodsIn(t)).ToList();
            var contexts = Time(() => methods.Sum(m => model.OwnContexts(m).Length));
            // Graphs only for the bodies the engines cannot walk as written.
            var graphs = Time(() => methods.Count(m => model.Index.BodyOf(m) is { } body && model.StructuredOf(m, body) is null && model.CfgOf(m) is not null));
            var engine = Time(() => methods.Sum(m => model.Analyze(m).Findings.Length));
            var provenance = ProvenanceModel.Get(model);
            var prov = Time(() => methods.Sum(m => provenance.Analyze(m).Length));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"compile {compile} | binding and operations {operations}, index {index}, entry contexts {contexts}, control-flow graphs {graphs}, context engine {engine}, provenance {prov}"));
        }
    }

    /// <summary>Time and allocation of one phase (this thread's allocation; the compile allocates on others too).</summary>
    private static string Time(Func<int> f)
    {
        GC.Collect();
        long allocated = GC.GetAllocatedBytesForCurrentThread();
        var sw = Stopwatch.StartNew();
        f();
        return string.Create(CultureInfo.InvariantCulture, $"{sw.Elapsed.TotalMilliseconds:F0} ms {(GC.GetAllocatedBytesForCurrentThread() - allocated) / 1048576.0:F0} MiB");
    }
}
