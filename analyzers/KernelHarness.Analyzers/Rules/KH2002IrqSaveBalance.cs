using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;

namespace KernelHarness.Analyzers.Rules;

/// <summary>KH2002: interrupts left disabled on an exit path, restores with the wrong flags, crossed saves, local_irq_enable inside local_irq_save. Findings come from the shared context engine.</summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class IrqSaveBalanceAnalyzer : KernelRuleAnalyzer
{
    private protected override DiagnosticDescriptor Rule => Descriptors.KH2002;
}
