using System.Collections.Immutable;
using KernelHarness.Analyzers.Summaries;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;

namespace KernelHarness.Analyzers.Rules;

/// <summary>
/// The opening lines every KH analyzer shares: concurrent, generated code skipped, the kernel symbols
/// resolved once per compilation, nothing registered when the compilation does not reference the
/// kernel API. Rules built on the context engine report, from an operation-block action, the findings
/// the shared per-compilation model computed for that block — so interprocedural findings appear on
/// the open document.
/// </summary>
public abstract class KernelRuleAnalyzer : DiagnosticAnalyzer
{
    private protected abstract DiagnosticDescriptor Rule { get; }

    public sealed override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics => ImmutableArray.Create(Rule);

    public sealed override void Initialize(AnalysisContext context)
    {
        context.EnableConcurrentExecution();
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.RegisterCompilationStartAction(start =>
        {
            var model = CompilationModel.Get(start.Compilation);
            if (model is null)
                return;
            Register(start, model);
        });
    }

    private protected virtual void Register(CompilationStartAnalysisContext start, CompilationModel model)
    {
        var rule = Rule;
        start.RegisterOperationBlockAction(block =>
        {
            if (block.OperationBlocks.IsEmpty)
                return;
            model.SemanticModels.Seed(block.OperationBlocks[0].SemanticModel);
            foreach (var finding in model.FindingsFor(block.OwningSymbol))
                if (finding.Id == rule.Id && finding.Location.SourceTree == block.FilterTree)
                    block.ReportDiagnostic(finding.ToDiagnostic(rule));
        });
    }
}
