using KernelHarness.Analyzers.Summaries;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;

namespace KernelHarness.Analyzers.Provenance;

/// <summary>
/// How KH3001–KH3004 report: from an operation-block action, the provenance findings of that block
/// (computed once per compilation and shared by the four rules), as part 1's engine rules do.
/// </summary>
internal static class ProvenanceRule
{
    public static void Register(CompilationStartAnalysisContext start, CompilationModel model, DiagnosticDescriptor rule)
    {
        var pm = ProvenanceModel.Get(model);
        start.RegisterOperationBlockAction(block =>
        {
            if (block.OperationBlocks.IsEmpty)
                return;
            model.SemanticModels.Seed(block.OperationBlocks[0].SemanticModel);
            foreach (var finding in pm.FindingsFor(block.OwningSymbol))
                if (finding.Id == rule.Id && finding.Location.SourceTree == block.FilterTree)
                    block.ReportDiagnostic(finding.ToDiagnostic(rule));
        });
    }
}
