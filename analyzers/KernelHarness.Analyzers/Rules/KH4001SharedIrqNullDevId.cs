using KernelHarness.Analyzers.Summaries;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace KernelHarness.Analyzers.Rules;

/// <summary>KH4001: request_irq / request_threaded_irq with IRQF_SHARED (a constant flags value that has it) and a null dev_id.</summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class SharedIrqNullDevIdAnalyzer : KernelRuleAnalyzer
{
    private protected override DiagnosticDescriptor Rule => Descriptors.KH4001;

    private protected override void AnalyzeFile(FileContext file)
    {
        var irqs = IrqRequests.Get(file.Model);
        foreach (var r in irqs.RequestsIn(file.Operations(OperationKind.Invocation)))
            if (r.Flags is ulong f && (f & irqs.Shared) != 0 && r.DevKey == "null")
                file.Report(Diagnostic.Create(Descriptors.KH4001, r.Call.Syntax.GetLocation(), file.Symbols.DisplayName(r.Call.TargetMethod) + "()"));
    }
}
