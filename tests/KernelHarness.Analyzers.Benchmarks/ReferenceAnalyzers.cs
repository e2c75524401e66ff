using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace KernelHarness.Analyzers.Benchmarks;

/// <summary>
/// The reference analyzers the KH analyzers are measured against (README): each reports nothing, runs concurrently,
/// skips generated code, and registers what its way of reading code needs.
/// </summary>
public abstract class ReferenceAnalyzer : DiagnosticAnalyzer
{
    private readonly DiagnosticDescriptor rule;

    private protected ReferenceAnalyzer(string id) => rule = new(id, id, id, "none", DiagnosticSeverity.Hidden, true);

    public sealed override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics => ImmutableArray.Create(rule);

    /// <summary>The ids of every reference analyzer: a run's KH findings are the others.</summary>
    public static readonly ImmutableHashSet<string> Ids = ImmutableHashSet.Create("KH0000", "KH0001", "KH0002", "KH0003", "KH0004");

    public sealed override void Initialize(AnalysisContext context)
    {
        context.EnableConcurrentExecution();
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        Register(context);
    }

    private protected abstract void Register(AnalysisContext context);
}

/// <summary>An analyzer that registers nothing: the cost of compiling and binding alone (the baseline).</summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class EmptyAnalyzer : ReferenceAnalyzer
{
    public EmptyAnalyzer() : base("KH0000") { }

    private protected override void Register(AnalysisContext context) { }
}

/// <summary>
/// An analyzer that asks for every operation block and does nothing with it: what any analyzer built on
/// the driver's operation actions pays (the driver binds every body again through semantic models, with
/// nullable analysis). The KH analyzers bind once, without it, and ask for none.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class OperationFloorAnalyzer : ReferenceAnalyzer
{
    public OperationFloorAnalyzer() : base("KH0001") { }

    private protected override void Register(AnalysisContext context) => context.RegisterOperationBlockAction(_ => { });
}

/// <summary>
/// Each file's bodies turned into operations from a semantic-model action, through the driver's model after the
/// compiler has bound them (<c>--only perfile</c>): no binding again, only the operation trees Roslyn builds (about
/// 90 ms of CPU per 1,000 files), which is why the KH rules read code this way rather than through operation-block
/// actions. With <see cref="Retain"/> (<c>--only retain</c>) it keeps every operation tree to the end of the run, as a
/// compilation-wide index must: what holding the trees costs the garbage collector.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class PerFileBindingAnalyzer : ReferenceAnalyzer
{
    public PerFileBindingAnalyzer() : base("KH0002") { }

    /// <summary>Keep every file's operation trees until the compilation's analysis ends.</summary>
    public bool Retain { get; init; }

    private protected override void Register(AnalysisContext context)
        => context.RegisterCompilationStartAction(start =>
        {
            var kept = new ConcurrentBag<IOperation>();
            start.RegisterSemanticModelAction(ctx =>
            {
                foreach (var m in ctx.SemanticModel.SyntaxTree.GetRoot().DescendantNodes().OfType<BaseMethodDeclarationSyntax>())
                {
                    var op = ctx.SemanticModel.GetOperation(m);
                    if (Retain && op is not null)
                        kept.Add(op);
                    _ = op?.Descendants().Count();
                }
            });
        });
}

/// <summary>
/// Each body turned into operations from a code-block action (<c>--only codeblock</c>). Code-block actions run as
/// the compiler finishes each method, but the driver first works out every declaration's nodes for them
/// (ComputeDeclarationAnalysisData, about 130 ms of CPU per 1,000 files here): dearer than reading each file from a
/// semantic-model action once the compile is done.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class CodeBlockBindingAnalyzer : ReferenceAnalyzer
{
    public CodeBlockBindingAnalyzer() : base("KH0003") { }

    private protected override void Register(AnalysisContext context)
        => context.RegisterCodeBlockAction(ctx => _ = ctx.SemanticModel.GetOperation(ctx.CodeBlock)?.Descendants().Count());
}

/// <summary>
/// Each method's operations taken from a symbol action as the compiler finishes the method, and kept until its
/// file's semantic-model action (<c>--only early</c>): what starting the KH work during the compile, on the cores
/// the compiler leaves idle, would cost. The trees then live through the compile's collections, and the collector
/// pays for them (about half as much again GC time as the KH run, in perf samples).
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class EarlyBindingAnalyzer : ReferenceAnalyzer
{
    public EarlyBindingAnalyzer() : base("KH0004") { }

    private protected override void Register(AnalysisContext context)
        => context.RegisterCompilationStartAction(start =>
        {
            var kept = new ConcurrentBag<IOperation>();
            var models = new ConcurrentDictionary<SyntaxTree, SemanticModel>();
            start.RegisterSymbolAction(ctx =>
            {
                foreach (var r in ctx.Symbol.DeclaringSyntaxReferences)
                {
                    var node = r.GetSyntax(ctx.CancellationToken);
#pragma warning disable RS1030 // the driver's cached model, as the KH rules' SemanticModels asks for it
                    var model = models.GetOrAdd(node.SyntaxTree, t => ctx.Compilation.GetSemanticModel(t));
#pragma warning restore RS1030
                    var op = model.GetOperation(node, ctx.CancellationToken);
                    if (op is not null)
                    {
                        kept.Add(op);
                        _ = op.Descendants().Count();
                    }
                }
            }, SymbolKind.Method);
            start.RegisterSemanticModelAction(ctx => models.TryRemove(ctx.SemanticModel.SyntaxTree, out _));
        });
}
