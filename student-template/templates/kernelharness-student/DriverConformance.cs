// The public driver tests for dotnet test. (The generator writes such a class for every subsystem
// class; the driver is not a kernel subsystem, so the template ships this one.) The grader compiles
// your sources without KH_STUDENT_TESTS, so this file is empty there. You need not edit it.
//-:cnd:noEmit
#if KH_STUDENT_TESTS
using System.Collections.Generic;
using KernelHarness.Conformance;
using Xunit;

namespace StudentKernel.Conformance;

/// <summary>Runs the public tests of the driver assignment against <see cref="StudentKernel.NetDriver"/>.</summary>
public sealed class NetDriver_Driver_Conformance
{
    /// <summary>The names of the driver assignment's public tests.</summary>
    public static IEnumerable<object[]> Tests => ConformanceRunner.PublicTestCases("driver");

    /// <summary>Runs one test on a fresh machine with a new driver.</summary>
    [Theory(DisplayName = "driver conformance")]
    [MemberData(nameof(Tests))]
    public void Conformance(string test) => ConformanceRunner.RunForTestFramework("driver", test, static () => new StudentKernel.NetDriver());
}
#endif
//+:cnd:noEmit
