"""The real API's recorded response bodies: re-typed as data from the official SDKs' test fixtures.

The SDKs keep, as test fixtures, bodies of real responses (plivo-go, -ruby, -php and -dotnet: real
host names and account ids; three independent captures, June 2020, August/September 2020 and
October 2021), beside bodies that are partly hand-written (plivo-python, -java). One body per
operation is re-typed here (a list keeps one object of its page), each naming where it is
recorded: repository, path, and the commit that last changed the file. The shapes the conformance
suite holds the emulator to (`oracle.py`) follow the majority of all of them; where they disagree,
docs/conformance.md says which was followed and why.

The bodies are facts about the wire format of Plivo's API (field names, types, nulls, texts),
quoted as test data.
"""

from __future__ import annotations

from typing import Any

GO = "plivo/plivo-go"
RUBY = "plivo/plivo-ruby"
DOTNET = "plivo/plivo-dotnet"
JAVA = "plivo/plivo-java"

#: operation -> (source, body). A source is "repository:path@commit".
RECORDED: dict[str, tuple[str, Any]] = {
    "get": (f"{GO}:fixtures/mPCGetResponse.json@aa902aebd0337d372d247963ac181a54d128d8e7", {
        "api_id": "d6eb04d7-a587-11ea-8818-0242ac11000e",
        "billed_amount": None,
        "billed_duration": None,
        "creation_time": "2020-06-03 10:48:43+00:00",
        "duration": None,
        "end_time": None,
        "friendly_name": "varshit_test",
        "mpc_uuid": "c5712c9f-2e3f-48ec-afbb-075f424ddc44",
        "participants": "/v1/Account/MAZTQXZDYWNZBMMJAZZJ/MultiPartyCall/name_varshit_test/"
                        "Participant/",
        "recording": "not-recording",
        "resource_uri": "/v1/Account/MAZTQXZDYWNZBMMJAZZJ/MultiPartyCall/name_varshit_test/",
        "start_time": "2020-06-03 10:48:43+00:00",
        "status": "Active",
        "stay_alone": False,
        "sub_account": None,
        "termination_cause": None,
        "termination_cause_code": None,
    }),
    "get_ended": (f"{DOTNET}:tests_netcore/Plivo.NetCore.Test/Mocks/mpcGetResponse.json"
                  "@4c28ff25454d4702b13cb4941e66934303c1ee8e", {
        "api_id": "8970c2b3-edfb-11ea-b02e-0242ac110003",
        "billed_amount": "0.00500",
        "billed_duration": 60,
        "creation_time": "2020-08-31 15:12:03+00:00",
        "duration": 3,
        "end_time": "2020-08-31 15:12:06+00:00",
        "friendly_name": "TestMPC",
        "mpc_uuid": "ca8e8a44-48e1-445d-afd5-1fcccdbccd9d",
        "participants": "/v1/Account/MAMDJMMTEZOWY0ZMQWM2/MultiPartyCall/"
                        "uuid_ca8e8a44-48e1-445d-afd5-1fcccdbccd9d/Participant/",
        "recording": None,
        "resource_uri": "/v1/Account/MAMDJMMTEZOWY0ZMQWM2/MultiPartyCall/"
                        "uuid_ca8e8a44-48e1-445d-afd5-1fcccdbccd9d/",
        "start_time": None,
        "status": "Ended",
        "stay_alone": False,
        "sub_account": None,
        "termination_cause": "No Active Participants",
        "termination_cause_code": 1000,
    }),
    "list": (f"{RUBY}:spec/mocks/multiPartyCallsListMpcResponse.json"
             "@791be5e0516f83e41a71d21f92792eb6830e151e", {
        "api_id": "d53ab14c-eddb-11ea-b02e-0242ac110003",
        "meta": {"count": 6, "limit": 20, "next": None, "offset": 0, "previous": None},
        "objects": [{
            "billed_amount": "0.00500",
            "billed_duration": 60,
            "creation_time": "2020-08-31 15:12:03+00:00",
            "duration": 3,
            "end_time": "2020-08-31 15:12:06+00:00",
            "friendly_name": "TestMPC",
            "mpc_uuid": "ca8e8a44-48e1-445d-afd5-1fcccdbccd9d",
            "participants": "/v1/Account/MAMDJMMTEZOWY0ZMQWM2/MultiPartyCall/"
                            "uuid_ca8e8a44-48e1-445d-afd5-1fcccdbccd9d/Participant/",
            "recording": None,
            "resource_uri": "/v1/Account/MAMDJMMTEZOWY0ZMQWM2/MultiPartyCall/"
                            "uuid_ca8e8a44-48e1-445d-afd5-1fcccdbccd9d/",
            "start_time": None,
            "status": "Ended",
            "stay_alone": False,
            "sub_account": None,
            "termination_cause": "No Active Participants",
            "termination_cause_code": 1000,
        }],
    }),
    "add_participant": (f"{GO}:fixtures/mPCAddParticipantResponse.json"
                        "@aa902aebd0337d372d247963ac181a54d128d8e7", {
        "api_id": "1cebd713-ee00-11ea-b02e-0242ac110003",
        "calls": [{
            "to": "sip:koushikqa119062465586783372208@phone-qa.voice.plivodev.com",
            "from": "918888888888",
            "call_uuid": "c0267574-5c12-4861-8990-da9404c8cdf6",
        }],
        "message": "add participant action initiated",
        "request_uuid": "c0267574-5c12-4861-8990-da9404c8cdf6",
    }),
    "list_participants": (f"{GO}:fixtures/mPCListParticipantsResponse.json"
                          "@8bb1fa017381545c1936d0324eab791b222ee8c7", {
        "api_id": "b58e6a5f-a5a3-11ea-a559-0242ac11000b",
        "meta": {"count": 1, "limit": 20, "next": None, "offset": 0, "previous": None},
        "objects": [{
            "billed_amount": None,
            "billed_duration": None,
            "call_uuid": "ceeac2c3-4d08-465f-87b8-c3c92225da23",
            "coach_mode": False,
            "duration": None,
            "end_mpc_on_exit": False,
            "exit_cause": None,
            "exit_time": None,
            "hold": False,
            "join_time": "2020-06-03 14:07:22+00:00",
            "member_address": "sip:ajaydjv902035012689385@phone-qa.voice.plivodev.com",
            "member_id": "209",
            "mpc_uuid": "b1e37275-b8e2-42cd-ae63-fffcc54a50b5",
            "mute": False,
            "resource_uri": "/v1/Account/MAMDJMMTEZOWY0ZMQWM2/MultiPartyCall/name_thanos/"
                            "Participant/209/",
            "role": "agent",
            "start_mpc_on_enter": True,
        }],
    }),
    "get_participant": (f"{RUBY}:spec/mocks/multiPartyCallsGetParticipantResponse.json"
                        "@791be5e0516f83e41a71d21f92792eb6830e151e", {
        "api_id": "7ca274bb-ee11-11ea-b02e-0242ac110003",
        "billed_amount": None,
        "billed_duration": None,
        "call_uuid": "426c1fb3-8f47-46e5-a916-51faa85ca90e",
        "coach_mode": False,
        "duration": None,
        "end_mpc_on_exit": False,
        "exit_cause": None,
        "exit_time": None,
        "hold": False,
        "join_time": "2020-09-03 17:24:12+00:00",
        "member_id": "2132",
        "mpc_uuid": "7503f05f-2d6e-4ab3-b9e6-3b0d81ae9087",
        "mute": False,
        "resource_uri": "/v1/Account/MAMDJMMTEZOWY0ZMQWM2/MultiPartyCall/"
                        "uuid_7503f05f-2d6e-4ab3-b9e6-3b0d81ae9087/Participant/2132/",
        "role": "agent",
        "start_mpc_on_enter": True,
    }),
    "get_participant_exited": (f"{JAVA}:src/test/resources/com/plivo/api/mpcParticipantGet.json"
                               "@47b30853a0c83007be063238c7bda39fc9a0db58", {
        "api_id": "07a25e47-c1e3-11ea-ae24-0242ac110004",
        "billed_amount": "0.00500",
        "billed_duration": 60,
        "call_uuid": "90de6710-9404-40d1-ba31-f26d2f7c533f",
        "coach_mode": None,
        "duration": 30,
        "end_mpc_on_exit": False,
        "exit_cause": "Participant Call Hangup",
        "exit_time": "2020-07-09 07:25:07+00:00",
        "hold": None,
        "join_time": "2020-07-09 07:24:37+00:00",
        "member_id": "49",
        "mpc_uuid": "18905d56-79c8-41d4-a840-25feff71070e",
        "mute": None,
        "resource_uri": "/v1/Account/MA123456789012345678/MultiPartyCall/"
                        "uuid_18905d56-79c8-41d4-a840-25feff71070e/Participant/49/",
        "role": "customer",
        "start_mpc_on_enter": True,
    }),
    "update_participant": (f"{GO}:fixtures/mPCUpdateParticipantResponse.json"
                           "@aa902aebd0337d372d247963ac181a54d128d8e7", {
        "api_id": "be5a333a-ee0f-11ea-b02e-0242ac110003",
        "hold": "MPC: TestMPCsample hold/unhold member(s) succeded",
        "mute": "MPC: TestMPCsample mute/unmute member(s) succeded",
    }),
    "start_recording": (f"{RUBY}:spec/mocks/multiPartyCallsStartRecordingResponse.json"
                        "@791be5e0516f83e41a71d21f92792eb6830e151e", {
        "api_id": "e9b9b0cf-ee0a-11ea-b02e-0242ac110003",
        "message": "MPC: TestMPCsample record started",
        "recording_id": "e9bd7634-ee0a-11ea-9ddf-06feebbe3347",
        "recording_url": "https://media-qa.voice.plivodev.com/v1/Account/MAMDJMMTEZOWY0ZMQWM2/"
                         "Recording/e9bd7634-ee0a-11ea-9ddf-06feebbe3347.mp3",
    }),
    "start_participant_recording": (
        f"{RUBY}:spec/mocks/multiPartyCallsStartParticipantRecordingResponse.json"
        "@76b7f7f39ba0e3f6892cdc39c43894885a105317", {
            "api_id": "036c80f3-3721-11ec-a678-0242ac110002",
            "message": "MPC: samplempc participant record started",
            "recording_id": "24670db8-c723-4ba2-8521-f10ec41ddf8b",
            "recording_url": "https://media-qa.voice.plivodev.com/v1/Account/MAXXXXXXXXXXXX/"
                             "Recording/XXXXX-XXXX-XXXX-XXXXX.mp3",
        }),
    "start_play_audio": (f"{RUBY}:spec/mocks/multiPartyCallsStartMemberPlayAudioResponse.json"
                         "@76b7f7f39ba0e3f6892cdc39c43894885a105317", {
        "api_id": "c07db813-3721-11ec-8bcd-0242ac110008",
        "message": "play queued into MPC",
        "mpcMemberId": ["1003"],
        "mpcName": "samplempc",
    }),
    "start_speak": (f"{GO}:fixtures/mPCStartSpeakResponse.json"
                    "@32383e96d9dcdb6bba7ec0e50bed2c576f15dd93", {
        "api_id": "a0d4a358-b11f-11ed-ac48-0242ac110008",
        "message": "speak queued into MPC",
        "mpcMemberId": ["209"],
        "mpcName": "MyMPC",
    }),
    "async": (f"{DOTNET}:tests_netcore/Plivo.NetCore.Test/Mocks/asyncResponse.json"
              "@ff28c7e25f9ce1d048901009a42b9b049eabf324", {
        "api_id": "ee36bcf2-bb0b-11ec-b6ec-0242ac110002",
        "message": "async api spawned",
    }),
}
