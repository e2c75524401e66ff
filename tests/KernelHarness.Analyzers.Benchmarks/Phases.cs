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
/// compiling alone, then binding every file's code for the index (no compiler has bound it here), the entry
/// contexts (registrations), the control-flow graphs of the bodies that need one, the context engine, and the
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
            var index = Time(() => fresh.SyntaxTrees.Sum(t => model.Index.MethodsIn(t).Count));
            var methods = fresh.SyntaxTrees.SelectMany(t => model.Index.MethodsIn(t)).ToList();
            var contexts = Time(() => methods.Sum(m => model.OwnContexts(m).Length));
            // Graphs only for the bodies the engines cannot walk as written.
            var graphs = Time(() => methods.Count(m => model.Index.BodyOf(m) is { } body && model.StructuredOf(m, body) is null && model.CfgOf(m) is not null));
            var engine = Time(() => methods.Sum(m => model.Analyze(m).Findings.Length));
            var provenance = ProvenanceModel.Get(model);
            var prov = Time(() => methods.Sum(m => provenance.Analyze(m).Length));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"compile {compile} | index (binding) {index}, entry contexts {contexts}, control-flow graphs {graphs}, context engine {engine}, provenance {prov}"));
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

/// <summary>
/// A reference point: each file's bodies turned into operations from a semantic-model action, through the
/// driver's model after the compiler has bound them (<c>--only perfile</c>). It costs next to nothing, which is
/// why the KH rules read code this way rather than through operation-block actions. With <see cref="Retain"/>
/// (<c>--only retain</c>) it keeps every operation tree to the end of the run, as a compilation-wide index must:
/// what holding the trees costs the garbage collector.
/// </summary>
[Microsoft.CodeAnalysis.Diagnostics.DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class PerFileBindingAnalyzer : Microsoft.CodeAnalysis.Diagnostics.DiagnosticAnalyzer
{
    /// <summary>Keep every file's operation trees until the compilation's analysis ends.</summary>
    public bool Retain { get; init; }

    private static readonly DiagnosticDescriptor Rule = new("KH0002", "x", "x", "none", DiagnosticSeverity.Hidden, true);
    public override System.Collections.Immutable.ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics => System.Collections.Immutable.ImmutableArray.Create(Rule);
    public override void Initialize(Microsoft.CodeAnalysis.Diagnostics.AnalysisContext context)
    {
        context.EnableConcurrentExecution();
        context.ConfigureGeneratedCodeAnalysis(Microsoft.CodeAnalysis.Diagnostics.GeneratedCodeAnalysisFlags.None);
        context.RegisterCompilationStartAction(start =>
        {
            var kept = new System.Collections.Concurrent.ConcurrentBag<IOperation>();
            start.RegisterSemanticModelAction(ctx =>
            {
                int n = 0;
                foreach (var m in ctx.SemanticModel.SyntaxTree.GetRoot().DescendantNodes().OfType<Microsoft.CodeAnalysis.CSharp.Syntax.BaseMethodDeclarationSyntax>())
                {
                    var op = ctx.SemanticModel.GetOperation(m);
                    if (Retain && op is not null) kept.Add(op);
                    n += op?.Descendants().Count() ?? 0;
                }
            });
        });
    }
}
