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
        foreach (var site in file.Operations(OperationKind.Invocation))
        {
            var inv = (IInvocationOperation)site.Operation;
            if (!irqs.IsRequest(inv))
                continue;
            var caller = site.Member as IMethodSymbol ?? inv.TargetMethod;
            var r = irqs.Describe(inv, caller);
            if (r.Flags is ulong f && (f & irqs.Shared) != 0 && r.DevKey == "null")
                file.Report(Diagnostic.Create(Descriptors.KH4001, inv.Syntax.GetLocation(), file.Symbols.DisplayName(inv.TargetMethod) + "()"));
        }
    }
}
